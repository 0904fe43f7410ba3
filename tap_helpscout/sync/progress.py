"""What a person following a sync reads: a progress line about every `progress_seconds` while a
family runs (from a timer thread, so that they go on during long pauses), with the rows so far,
the share done (from the listing's own total) and the time left (from the requests still to make
and the rate limit); and one summary line at the end of the run. The lines are made by pure
functions (`progress_line`, `summary_line`), the timer only decides when."""
import threading
import time

from tap_helpscout.logs import get_logger
from tap_helpscout.signals import leave_stop_signals_to_the_main_thread

LOGGER = get_logger(__name__)


class Progress:
    """The run's progress: `start(family, client)` when a family begins, `total(stream, rows)`
    when its listing tells its size, `finish()` when it ends; `tick()` logs a line when one is
    due (the timer thread calls it; tests may too, with their own clock)."""

    def __init__(self, interval, rate_per_minute=None, clock=time.monotonic):
        self.interval = interval
        self.rate_per_minute = rate_per_minute      # function: the requests a minute the sync may make
        self.clock = clock
        self.lock = threading.Lock()
        self.family = None
        self.client = None
        self.started = self.last_line = 0.0
        self.requests_at_start = 0
        self.totals = {}                # stream name -> rows its listing says it holds
        self._stop = threading.Event()
        self._thread = None

    # -- the family under way ----------------------------------------------------------------
    def start(self, family, client):
        with self.lock:
            self.family, self.client = family, client
            self.started = self.last_line = self.clock()
            self.requests_at_start = client.request_count
            self.totals = {}

    def total(self, stream, rows):
        """A listing told how many rows it holds."""
        with self.lock:
            self.totals.setdefault(stream.name, rows)

    def finish(self):
        with self.lock:
            self.family = None

    # -- the timer -----------------------------------------------------------------------------
    def run_timer(self):
        """Log progress from a daemon thread until `stop_timer`."""
        if self.interval and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
            self._thread.start()

    def stop_timer(self):
        self._stop.set()

    def _loop(self):
        leave_stop_signals_to_the_main_thread()
        while not self._stop.wait(min(self.interval, 5.0)):
            self.tick()

    def tick(self):
        now = self.clock()
        with self.lock:
            if self.family is None or now - self.last_line < self.interval:
                return
            self.last_line = now
            family, totals, elapsed = self.family, dict(self.totals), now - self.started
            requests = self.client.request_count - self.requests_at_start
        rate = self.rate_per_minute() if self.rate_per_minute else None
        LOGGER.info("%s", progress_line(family.root.name, dict(family.counts), totals, requests, elapsed, rate))


def progress_line(root, counts, totals, requests, elapsed, rate_per_minute):
    """`conversations: 1,200 of about 3,000 rows (about 40%), conversation_threads 5,400; 310
    requests in 1 min 2 s, about 470 to go: about 1 min 11 s left at 400 requests a minute`."""
    done, total = counts.get(root, 0), totals.get(root)
    parts = [f"{root}: {done:,}" + (f" of about {total:,} rows (about {_share(done, total)})" if total else " rows")]
    parts[0] += "".join(f", {name} {count:,}" for name, count in counts.items() if name != root)
    text = "; ".join(parts) + f"; {counted(requests, 'request')} in {_duration(elapsed)}"
    if total and 0 < done < total and requests:
        to_go = round(requests * (total - done) / done)
        pace = rate_per_minute or (requests / elapsed * 60 if elapsed > 0 else None)
        if pace:
            how = f"at {rate_per_minute:,} requests a minute" if rate_per_minute else "at the pace so far"
            text += f", about {to_go:,} to go: about {_duration(to_go / pace * 60)} left {how}"
    return text


def summary_line(totals, seconds, stats, skipped, failures, stopped=False):
    """The run's last INFO line: rows per stream, requests, 429s, retries, what was skipped or
    failed."""
    rows = ", ".join(f"{name} {count}" for name, count in sorted(totals.items())
                     if not name.startswith(("skipped ", "nulled "))) or "no rows"
    malformed = sum(count for name, count in totals.items() if name.startswith("skipped "))
    nulled = sum(count for name, count in totals.items() if name.startswith("nulled "))
    parts = [f"Sync {'stopped' if stopped else 'finished'} in {_duration(seconds)}: {rows}",
             f"{counted(stats['requests'], 'request')}, {stats['throttled']} x 429, "
             f"{counted(stats['retries'], 'retry', 'retries')}, {counted(stats['rate_waits'], 'rate-limit wait')}"]
    if malformed:
        parts.append(f"{malformed} skipped without their key")
    if nulled:
        parts.append(f"{nulled} values made null")
    if skipped:
        parts.append("skipped: " + ", ".join(skipped))
    if failures:
        parts.append("failed: " + ", ".join(", ".join(names) for names, _ in failures))
    return "; ".join(parts)


def client_stats(clients):
    """The summary's figures, added over the run's API clients."""
    found = {"requests": 0, "throttled": 0, "retries": 0, "rate_waits": 0}
    for client in clients:
        stats = getattr(client, "stats", None)
        for name in found:
            value = getattr(stats, name, None) if stats is not None else None
            if value is None and name == "requests":
                value = getattr(client, "request_count", 0)
            found[name] += int(value or 0)
    return found


def counted(number, noun, plural=None):
    """`1 request`, `2,000 requests`."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def _share(done, total):
    return f"{min(100, round(100 * done / total))}%" if total else "?"


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
