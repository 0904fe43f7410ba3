"""What the people who follow a long sync read: a progress line per stream about every 30 s
while it runs (never more often), and one summary line at the end of the run.

A quiet run stays quiet: besides Singer's METRIC lines there is a start and a finish line per
stream family, progress only while a family takes longer than PROGRESS_SECONDS, and the summary.
"""
import threading
import time

from tap_helpscout.logs import get_logger

LOGGER = get_logger(__name__)
PROGRESS_SECONDS = 30.0


class Progress:
    def __init__(self, client, clock=time.monotonic):
        self.client = client
        self.clock = clock
        self.lock = threading.Lock()
        self.family = None
        self.started = 0.0
        self.last_line = 0.0
        self.pages = 0
        self.requests_at_start = 0
        self.totals = {}                # stream name -> rows the listing says it has

    def start(self, family):
        with self.lock:
            self.family = family
            self.started = self.last_line = self.clock()
            self.pages = 0
            self.requests_at_start = _stat(self.client, "requests")
            self.totals = {}

    def page_requested(self, stream):
        with self.lock:
            self.pages += 1

    def total(self, stream, rows):
        """A listing told how many rows it holds (for the ETA)."""
        with self.lock:
            self.totals.setdefault(stream.name, rows)

    def maybe_log(self, stream):
        now = self.clock()
        with self.lock:
            if self.family is None or now - self.last_line < PROGRESS_SECONDS:
                return
            self.last_line = now
            family, pages, elapsed = self.family, self.pages, now - self.started
            totals = dict(self.totals)
        rows = family.counts[stream.name]
        eta = ""
        total = totals.get(stream.name)
        if total and 0 < rows < total:
            eta = f", about {_duration(elapsed * (total - rows) / rows)} left"
        of_total = f" of about {total}" if total else ""
        LOGGER.info("%s: %d rows%s so far, %d pages, %d requests, %d rate-limit waits, %s elapsed%s",
                    stream.name, rows, of_total, pages,
                    _stat(self.client, "requests") - self.requests_at_start,
                    _stat(self.client, "rate_waits"), _duration(elapsed), eta)

    def summary(self, totals, seconds, skipped, failures, stopped=False):
        rows = ", ".join(f"{name} {count}" for name, count in sorted(totals.items())
                         if not name.startswith(("skipped ", "nulled "))) or "no rows"
        malformed = sum(count for name, count in totals.items() if name.startswith("skipped "))
        nulled = sum(count for name, count in totals.items() if name.startswith("nulled "))
        parts = [f"Sync {'stopped' if stopped else 'finished'} in {_duration(seconds)}: {rows}",
                 f"{_stat(self.client, 'requests')} requests, {_stat(self.client, 'throttled')} x 429, "
                 f"{_stat(self.client, 'retries')} retries, {_stat(self.client, 'rate_waits')} rate-limit waits"]
        if malformed:
            parts.append(f"{malformed} skipped without their key")
        if nulled:
            parts.append(f"{nulled} values made null")
        if skipped:
            parts.append("skipped: " + ", ".join(skipped))
        if failures:
            parts.append("failed: " + ", ".join(", ".join(names) for names, _ in failures))
        LOGGER.info("; ".join(parts))


def _stat(client, name):
    stats = getattr(client, "stats", None)
    value = getattr(stats, name, None) if stats is not None else None
    if value is None and name == "requests":
        value = getattr(client, "request_count", 0)
    return int(value or 0)


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
