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
    end(run)


def end(run):
    """Run the command, then end the process at once with its exit code: requests still in
    flight on worker threads (paced, or waiting out a backoff) are abandoned rather than waited
    for, so that a stop is prompt. The command waited for what must not be cut (a token being
    stored) and wrote its last line before it returned."""
    import os
    import sys
    code = 1
    try:
        run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:       # a second Ctrl-C in the very last instant
        code = 130
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:       # a closed pipe: nothing more can reach it
                pass
        os._exit(code)
