"""Run one command and report its own CPU time and peak RSS: `python -S bench_wrapper.py OUT.json CMD...`.

Why a wrapper: on Linux a child's ru_maxrss starts from the RSS of the process it was forked
from (the kernel keeps the pre-exec high-water mark). The bench process holds the emulator's
whole dataset, so a tap forked from it would report the bench's size, not its own. Forked from
this small process (run with -S: no site, a few MiB), the tap's peak is its own.
"""
import json
import os
import sys
import time


def main():
    out_path, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:                                   # the child: become the command
        if os.environ.get("BENCH_TAP_CPU"):        # run on that CPU only (see bench_harness.cpus_apart)
            os.sched_setaffinity(0, {int(os.environ["BENCH_TAP_CPU"])})
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    with open(out_path, "w") as handle:
        json.dump({"returncode": os.waitstatus_to_exitcode(status), "wall": wall,
                   "cpu": usage.ru_utime + usage.ru_stime, "utime": usage.ru_utime, "stime": usage.ru_stime,
                   "maxrss_kib": usage.ru_maxrss}, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
