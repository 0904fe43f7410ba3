"""SIGINT, SIGTERM and SIGHUP end a run at once, never in the middle of a line on stdout and never
between a token's rotation and its storage, whichever thread renews it: the signal is remembered
during a write (or a token renewal) and raised right after it, in the main thread, which writes.
docs/design/signals.md.
"""
import os
import signal
import threading
import time
from contextlib import contextmanager

# signal -> (its name, the exit code of a run it stopped: 128 + its number, as shells report)
SIGNALS = {signal.SIGINT: ("SIGINT", 130), signal.SIGTERM: ("SIGTERM", 143), signal.SIGHUP: ("SIGHUP", 129)}


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (`signum`). A BaseException, like KeyboardInterrupt, so that no
    `except Exception` on the way (a stream's failure isolation, a retry loop) takes it for an
    error to survive."""

    def __init__(self, signum=signal.SIGTERM):
        super().__init__(SIGNALS[signum][0])
        self.signum = signum


def leave_stop_signals_to_the_main_thread():
    """Called first by every thread the tap starts. Python runs signal handlers in the main thread
    only, and a signal the kernel hands to another thread waits until the main thread next wakes:
    a main thread waiting on a page during a long rate-limit pause would not stop. Blocked in
    every other thread, the stop signals always reach the main thread and cut its wait."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


def stop_exception(signum):
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def signal_of(exc):
    """The signal a stop exception stands for."""
    return signal.SIGINT if isinstance(exc, KeyboardInterrupt) else exc.signum


class SignalGuard:
    """Handlers for the stop signals that never interrupt a write of an Output it made, nor a
    `deferred` section of any thread."""

    def __init__(self):
        self.outputs = []
        self.pending = None             # a signal that arrived during a write or a deferred section
        self.previous = {}
        self.critical = 0               # `deferred` sections under way, in all threads
        self.stopping = False           # a stop signal came: the next one ends the process at once
        self.lock = threading.Lock()

    def install(self):
        self.outputs, self.pending, self.critical, self.stopping = [], None, 0, False
        if threading.current_thread() is not threading.main_thread():
            return self                 # only the main thread may set handlers (main called from a thread)
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            # A signal ignored by whoever started us (`nohup`, a background job of a
            # non-interactive shell for SIGINT) stays ignored.
            if current is signal.SIG_IGN:
                continue
            self.previous[signum] = current
            signal.signal(signum, self.handle)
        return self

    def restore(self):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def handle(self, signum, frame):
        with self.lock:
            again, self.stopping = self.stopping, True
            if self.critical or (not again and any(out.writing for out in self.outputs)):
                self.pending = self.pending or signum
                return
        if again:
            # The user insists (a second Ctrl-C): at once, without waiting for anything but a
            # token being stored (held off above).
            os.write(2, f"tap-helpscout: stopped by {SIGNALS[signum][0]} again: exiting at once\n".encode())
            os._exit(SIGNALS[signum][1])
        raise stop_exception(signum)

    @contextmanager
    def deferred(self):
        """A section no stop may cut, in any thread (a token renewed and stored): a signal that
        arrives meanwhile is raised in the main thread when the last such section ends."""
        main = threading.current_thread() is threading.main_thread()
        with self.lock:
            self.critical += 1
        try:
            yield
        finally:
            with self.lock:
                self.critical -= 1
                last = not self.critical
                signum = self.pending if last and not main else None
                if signum is not None:
                    self.pending = None
            if signum is not None:
                # Signals reach the main thread only: deliver it there again, now that no
                # section holds it back.
                signal.pthread_kill(threading.main_thread().ident, signum)
        if main and last:
            self.raise_pending()

    def raise_pending(self):
        """Raise the signal that arrived during a write, now that the write is complete (in the
        main thread, unless a deferred section is still under way)."""
        with self.lock:
            if self.critical:
                return
            signum, self.pending = self.pending, None
        if signum is not None:
            raise stop_exception(signum)

    def wait_for_deferred(self, timeout):
        """Wait (at most `timeout` seconds) until no deferred section is under way in any thread:
        before the process ends, a token being stored must reach the disk."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.critical:
                    return True
            time.sleep(0.01)
        return False

    def output_factory(self, output_class):
        """A factory for the engine (`out_factory(state)`) whose outputs this guard watches."""
        guard = self

        class GuardedOutput(output_class):
            def checkpoint(self):
                super().checkpoint()
                guard.raise_pending()

        def make(state, *args, **kwargs):
            out = GuardedOutput(state, *args, **kwargs)
            guard.outputs.append(out)
            return out
        return make


# The run's guard: cli.main installs it; auth defers signals while it renews a token.
GUARD = SignalGuard()
