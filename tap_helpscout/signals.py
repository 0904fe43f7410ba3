"""SIGTERM ends a run the way SIGINT does: at once, without a partial line on stdout.

Schedulers stop a task with SIGTERM (systemd, Kubernetes, Airflow, `timeout`). Python's default
for it is to die on the spot, with nothing logged; SIGINT raises KeyboardInterrupt wherever the
main thread happens to be, even in the middle of writing a page to stdout. Here both raise an
exception in the main thread (KeyboardInterrupt, `Terminated`), which `cli.main` turns into one
line on stderr and exit code 130 or 143 — except while an `Output` writes: then the signal is
remembered and raised right after the write, so stdout always ends with a complete line, and
the last STATE on it is the one of the last complete page.

Signal handlers run in the main thread only, and the main thread is the one that writes.
"""
import signal
import threading

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

    def install(self):
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
        if any(out.writing for out in self.outputs):
            self.pending = self.pending or signum
            return
        raise stop_exception(signum)

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
