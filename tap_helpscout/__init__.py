"""tap-helpscout: a Singer tap for the Help Scout Mailbox API 2.0."""


def main():
    """The `tap-helpscout` command. The CLI is imported on call, so that importing any module of
    the package (the sync engine, the tests) does not set up the command line's logging; a
    memory limit too tight for the imports themselves gets one line too."""
    try:
        from tap_helpscout.cli.main import main as run
    except MemoryError:
        import sys
        sys.stderr.write("tap-helpscout: the memory limit was reached while starting (ulimit -v, a "
                         "container's limit?); give the tap more memory\n")
        sys.exit(1)
    run()
