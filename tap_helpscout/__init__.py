"""tap-helpscout: a Singer tap for the Help Scout Mailbox API 2.0."""


def main():
    """The `tap-helpscout` command. The CLI is imported on call, so that importing any module of
    the package (the sync engine, the tests) does not set up the command line's logging."""
    from tap_helpscout.cli.main import main as run
    run()
