"""The command line: arguments, catalog and state files, and how failures reach the user.

Conventions are singer-python's `parse_args`: `--config` is required in every mode (but
`--about`, which describes the tap as Meltano SDK taps do), `--properties` is the legacy name of
`--catalog`, and `--state` is accepted (and ignored) together with `--discover`, because Meltano
passes it there.
"""
import argparse
import json
import logging
import os
import sys
import traceback

from tap_helpscout.cli.about import FORMATS as ABOUT_FORMATS
from tap_helpscout.cli.about import render as render_about
from tap_helpscout.cli.inputs import load_catalog, load_config, load_state, require_selection
from tap_helpscout.discover import discover
from tap_helpscout.errors import InputError, TapError
from tap_helpscout.logs import configure_logging, tell
from tap_helpscout.redact import RUN
from tap_helpscout.settings import SECRET_KEYS
from tap_helpscout.signals import GUARD, SIGNALS, Terminated, signal_of
from tap_helpscout.version import PROG, VERSION

THREAD_LIMIT = (f"{PROG}: could not start a thread (the memory or process limit: ulimit -v, ulimit -u, a "
                f"container's limit?); give the tap more, or set max_parallel_requests to 1")
MEMORY_LIMIT = (f"{PROG}: the memory limit was reached (ulimit -v, a container's limit?); give the tap more "
                f"memory, or lower max_parallel_requests")
# How long the end of a run waits for a token renewal under way on another thread (a request's
# tries take about two minutes at most).
TOKEN_STORE_WAIT_SECONDS = 180


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG, description="Singer tap for the Help Scout Mailbox API 2.0.")
    parser.add_argument("-c", "--config", metavar="CONFIG",
                        help="config file (JSON); see sample_config.json. Required but with --about")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--about", action="store_true",
                      help="print the tap's name, version, capabilities and settings, and exit")
    mode.add_argument("-d", "--discover", action="store_true",
                      help="print the catalog of streams and exit (works offline)")
    mode.add_argument("--authorize", action="store_true",
                      help="authorize the Help Scout app in a browser and store its tokens (docs/operations.md)")
    mode.add_argument("--check", action="store_true",
                      help="check config, credentials, plan and rate limit, and estimate a backfill")
    parser.add_argument("--catalog", metavar="CATALOG", help="catalog file with the selected streams")
    parser.add_argument("-p", "--properties", metavar="PROPERTIES",
                        help="legacy name of --catalog")
    parser.add_argument("-s", "--state", metavar="STATE",
                        help="state file from a previous run (ignored with --discover)")
    parser.add_argument("--port", type=int, metavar="N",
                        help="with --authorize: the loopback port of the Redirection URL (8765)")
    parser.add_argument("--no-browser", action="store_true",
                        help="with --authorize: print the address, read the redirected one from stdin")
    parser.add_argument("--json", action="store_true", help="with --check: one JSON object on stdout")
    parser.add_argument("--format", choices=ABOUT_FORMATS, help="with --about: text (default), json or markdown")
    parser.add_argument("--version", action="version", version=f"{PROG} {VERSION}")
    args = parser.parse_args(argv)
    if args.config is None and not args.about:
        parser.error("the following arguments are required: -c/--config")
    if args.format is not None and not args.about:
        parser.error("--format goes with --about")
    if (args.port is not None or args.no_browser) and not args.authorize:
        parser.error("--port and --no-browser go with --authorize")
    if args.json and not args.check:
        parser.error("--json goes with --check")
    return args


def run(argv=None, loaded=None, guard=None):
    """Do what the arguments ask; raises TapError for anything the user must fix, and returns
    the exit code when it is not 0 (--check). `loaded` receives the config, so that main can
    hide its secrets from a traceback; `guard` (a SignalGuard) watches the output, so that a
    signal never cuts a line."""
    args = parse_args(argv)
    if args.about:
        # Needs no config: a config given (Meltano gives one) is not read.
        sys.stdout.write(render_about(args.format or "text"))
        sys.stdout.flush()
        return
    if args.check:
        # check.py validates the config itself, so that --json reports a broken one as JSON.
        from tap_helpscout.cli.check import run_check
        return run_check(args, loaded)
    config = load_config(args.config)
    if loaded is not None:
        loaded["config"] = config
    if args.authorize:
        from tap_helpscout.cli.authorize import DEFAULT_PORT, authorize
        port = DEFAULT_PORT if args.port is None else args.port
        tell(sys.stderr, authorize(config, args.config, port=port, browser=not args.no_browser))
        return 0
    if args.discover:
        # Only the catalog goes to stdout: a target or a file reads it.
        sys.stdout.write(json.dumps(discover(), indent=2) + "\n")
        sys.stdout.flush()
        return
    if args.catalog and args.properties:
        raise InputError("give the catalog with --catalog or with --properties, not both")
    catalog_path = args.catalog or args.properties
    if not catalog_path:
        raise InputError(f"no catalog: run {PROG} --config CONFIG --discover > catalog.json, "
                         "select streams in it, then pass --catalog catalog.json")
    catalog = load_catalog(catalog_path)
    require_selection(catalog, catalog_path)
    state = load_state(args.state) if args.state else {}

    # Imported here so that discovery never depends on the sync engine.
    from tap_helpscout.sync.engine import sync
    from tap_helpscout.sync.state import Output
    out_factory = guard.output_factory(Output) if guard is not None else Output
    sync(config, args.config, catalog, state, out_factory, state_source=f'state file "{args.state}"')


def main(argv=None):
    """Exit codes: 0 done (also when the plan lacks reports, or max_run_minutes stopped the
    run at a page boundary), 1 an error (one line on stderr; also --check finding a problem),
    2 bad arguments (argparse), 3 a catalog that selects no stream, 129 SIGHUP, 130 SIGINT,
    143 SIGTERM."""
    configure_logging()
    loaded = {}
    guard = GUARD.install()
    failure = None
    try:
        exit_code = run(argv, loaded, guard)
    except TapError as exc:
        failure = (f"{PROG}: {exc}", exc.exit_code)
    except (KeyboardInterrupt, Terminated) as exc:
        name, code = SIGNALS[signal_of(exc)]
        after = "; the next run continues from the last STATE written" if guard.outputs else ""
        failure = (f"{PROG}: stopped by {name}{after}", code)
    except BrokenPipeError:
        # The reader of stdout (the target) went away; its own error says why.
        _silence_stdout()
        failure = (f"{PROG}: the output pipe was closed (did the target stop?)", 1)
    except MemoryError:
        failure = (MEMORY_LIMIT, 1)
    except RuntimeError as exc:
        failure = (THREAD_LIMIT, 1) if "can't start new thread" in str(exc) else _bug(exc, argv, loaded)
    except Exception as exc:             # a bug: keep the traceback, but never a secret in it
        failure = _bug(exc, argv, loaded)
    finally:
        # A token being renewed on another thread reaches the disk before the process ends:
        # until then, further signals are held back too.
        guard.wait_for_deferred(TOKEN_STORE_WAIT_SECONDS)
        guard.restore()
    if failure is not None:
        _fail(*failure)
    sys.exit(exit_code or 0)


def _bug(exc, argv, loaded):
    """(the message, 1) for an unexpected exception: its traceback, with no secret in it."""
    message = f"{PROG}: unexpected error: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    # The run's Redactor knows every token obtained so far; add the config's (before and after a
    # rotation) and keep the traceback's lines.
    RUN.add(*_secrets(argv, loaded.get("config")))
    return RUN.scrub(message), 1


def _secrets(argv, config):
    """The secret values of the config as loaded, and of the config file as it is now (the
    sync may have rotated the refresh token since)."""
    found = {str(config[key]) for key in SECRET_KEYS if config and config.get(key)}
    try:
        with open(parse_args(argv).config, encoding="utf-8") as f:
            raw = json.load(f)
        found |= {str(raw[key]) for key in SECRET_KEYS if raw.get(key)}
    except Exception:                    # the config file may be the very thing that is broken
        pass
    return found


def _silence_stdout():
    # Python flushes stdout at exit; with the pipe gone that flush would fail once more.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _fail(message, code):
    # Requests still in flight on worker threads finish while the process exits; what they would
    # log must not come after the line that says how the run ended: logging stops first, and the
    # log's handlers write nowhere from now on (a worker's line already under way included).
    logging.disable(logging.CRITICAL)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))
    tell(sys.stderr, message)
    sys.exit(code)
