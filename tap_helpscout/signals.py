"""SIGTERM and SIGINT end a run at once, never in the middle of a line on stdout and never between
a token's rotation and its storage: the signal is remembered during a write (or a token renewal)
and raised right after it, in the main thread, which writes. docs/design/signals.md.
"""
import signal
import threading
from contextlib import contextmanager

SIGNALS = {signal.SIGINT: ("SIGINT", 130), signal.SIGTERM: ("SIGTERM", 143)}


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that no `except Exception`
    on the way (a stream's failure isolation, a retry loop) takes it for an error to survive."""


def stop_exception(signum):
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


class SignalGuard:
    """Handlers for SIGINT and SIGTERM that never interrupt a write of an Output it made."""

    def __init__(self):
        self.outputs = []
        self.pending = None             # a signal that arrived during a write
        self.previous = {}
        self.critical = 0               # depth of `deferred` sections in the main thread

    def install(self):
        self.outputs, self.pending, self.critical = [], None, 0
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
        if self.critical or any(out.writing for out in self.outputs):
            self.pending = self.pending or signum
            return
        raise stop_exception(signum)

    @contextmanager
    def deferred(self):
        """A section a signal must not cut (in the main thread; other threads get no signals):
        a signal that arrives meanwhile is raised when the section ends."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self.critical += 1
        try:
            yield
        finally:
            self.critical -= 1
        if not self.critical:
            self.raise_pending()

    def raise_pending(self):
        """Raise the signal that arrived during a write, now that the write is complete."""
        signum, self.pending = self.pending, None
        if signum is not None:
            raise stop_exception(signum)

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
