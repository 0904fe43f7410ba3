"""tap-helpscout: a Singer tap for the Help Scout Mailbox API 2.0."""


def main():
    """The `tap-helpscout` command. The CLI is imported on call, so that importing any module of
    the package (the sync engine, the tests) does not set up the command line's logging; a
    memory limit too tight for the imports themselves gets one line too."""
    import logging
    # Until the command line sets up its log: a library that logs while it is imported (hashlib,
    # when a memory limit keeps OpenSSL out) must not print a traceback of its own.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        from tap_helpscout.cli.main import main as run
    except MemoryError:
        import sys
        sys.stderr.write("tap-helpscout: the memory limit was reached while starting (ulimit -v, a "
                         "container's limit?); give the tap more memory\n")
        sys.exit(1)
    run()
