"""tap-helpscout: a Singer tap for the Help Scout Mailbox API 2.0."""
from tap_helpscout.cli import main

__all__ = ["main"]
