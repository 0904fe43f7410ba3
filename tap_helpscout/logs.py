"""Logging for the people who read it: every line on stderr is `<ISO 8601 UTC time> LEVEL
message`, Singer's METRIC lines included, even though singer-python reloads its logging
configuration on every metric (docs/design/command-line.md tells the trick). Modules log through
`get_logger(__name__)`.
"""
import logging
import logging.config
import time
from pathlib import Path

import singer.logger

PACKAGE = "tap_helpscout"
CONFIG_FILE = Path(__file__).with_name("logging.conf")


class UtcFormatter(logging.Formatter):
    """`2024-06-01T12:00:00.123Z INFO message`. A message of several lines (a traceback) gets the
    same prefix on every line, so that no line lacks a time and none can pass for another entry."""

    converter = time.gmtime

    def formatTime(self, record, datefmt=None):
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"

    def format(self, record):
        text = super().format(record).rstrip("\n")     # captured warnings end with one
        if "\n" not in text:
            return text
        prefix = f"{self.formatTime(record)} {record.levelname} "
        first, *rest = text.split("\n")
        return "\n".join([first, *(prefix + line for line in rest)])


def configure_logging():
    """Timestamped lines on stderr for the whole process; call once, at start (calling again
    does no harm)."""
    # Only the folder of this path is used by singer's reload (see the module's docstring).
    singer.logger.__file__ = str(CONFIG_FILE.with_name("logs.py"))
    logging.config.fileConfig(str(CONFIG_FILE), disable_existing_loggers=False)
    # Python's own warnings (deprecations in libraries) then get a time too.
    logging.captureWarnings(True)


def get_logger(name=None):
    """The logger for a module of the tap (`get_logger(__name__)`), or for the package."""
    return logging.getLogger(name or PACKAGE)


def only_warnings():
    """From now on, only warnings and errors: no INFO lines (Singer's per-request METRIC lines
    among them), for a mode whose own report is what the user reads (--check, --authorize)."""
    logging.getLogger().setLevel(logging.WARNING)


def tell(out, line):
    """A line for the user, outside the log's format, on `out`: stderr (or a test's stream),
    never stdout, which carries Singer messages only."""
    out.write(line + "\n")
    out.flush()
