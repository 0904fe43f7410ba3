"""Where the tap's peak memory goes: `python -m tests.bench.memory_probe [--sizes 2000,20000] [--trace]`.

A quicker, narrower look than `make bench`'s section 4. For each account size it starts the
emulator (seed 1, 1,000 customers, 20% chats) and runs the tap on every stream of its own
discovery (or the bench's eleven, `--contract`) as a child of tests/bench/bench_wrapper.py, so that the
peak RSS from os.wait4 is the tap's own. While the tap runs, /proc/<pid>/smaps is sampled from
outside to tell the main heap (brk: `[heap]`) from anonymous mappings (thread arenas, large
blocks mapped on their own) and from file-backed pages (code, libraries).

`--trace` runs the tap once more (from this working tree) under tracemalloc, started before the
package is imported, and reports the live Python heap: its peak, the largest sample, what is left
at exit, and the allocation sites that grew most from a snapshot a few seconds in to the end. A
heap that grows with the account is a leak or an unbounded structure; a flat heap under a
growing RSS is fragmentation. `--tap` runs another installed executable for the RSS runs (the
bench installs one, not editable, into .bench/ours-venv).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.emulator import Emulator
from tests.support.tap_runner import select, write_config

REPO = Path(__file__).resolve().parents[2]
WRAPPER = Path(__file__).with_name("bench_wrapper.py")
CONTRACT = ("conversations", "conversation_threads", "customers", "happiness_ratings_report",
            "mailbox_fields", "mailbox_folders", "mailboxes", "team_members", "teams", "users", "workflows")

# Runs the tap under tracemalloc; a sampler thread records the traced heap, snapshots at the end.
TRACED = r"""
import json, os, sys, threading, time, tracemalloc
tracemalloc.start(int(os.environ.get("PROBE_FRAMES", "1")))
out, every = os.environ["PROBE_TRACE_OUT"], float(os.environ.get("PROBE_EVERY", "0.5"))
t0, samples, snaps = time.monotonic(), [], []
def sample():
    while True:
        time.sleep(every)
        current, _ = tracemalloc.get_traced_memory()
        samples.append((round(time.monotonic() - t0, 2), current))
        if len(snaps) < 1 and time.monotonic() - t0 > float(os.environ.get("PROBE_FIRST", "3")):
            snaps.append(tracemalloc.take_snapshot())
threading.Thread(target=sample, daemon=True).start()
def report():
    current, peak = tracemalloc.get_traced_memory()
    last = tracemalloc.take_snapshot()
    growth = []
    if snaps:
        for stat in last.compare_to(snaps[0], "lineno")[:25]:
            frame = stat.traceback[0]
            if frame.filename == "<string>":        # this sampler's own list
                continue
            growth.append([f"{frame.filename}:{frame.lineno}", stat.size_diff, stat.count_diff, stat.size])
    top = [[f"{s.traceback[0].filename}:{s.traceback[0].lineno}", s.size, s.count]
           for s in last.statistics("lineno")[:15]]
    with open(out, "w") as f:
        json.dump({"samples": samples, "peak": peak, "end": current, "growth": growth, "top": top}, f)
import atexit
atexit.register(report)
sys.argv = ["tap-helpscout"] + sys.argv[1:]
from tap_helpscout import main
main()
"""


def catalog_for(workdir, contract):
    config = write_json(workdir / "discover-config.json",
                        {"client_id": "x", "client_secret": "x", "refresh_token": "x",
                         "start_date": "2019-01-01T00:00:00Z"})
    out = subprocess.run([sys.executable, "-m", "tap_helpscout", "--config", str(config), "--discover"],
                         check=True, capture_output=True, text=True, cwd=REPO)
    return write_json(workdir / "catalog.json", select(json.loads(out.stdout), CONTRACT if contract else None))


def write_json(path, value):
    Path(path).write_text(json.dumps(value))
    return Path(path)


def memory_of(pid):
    """KiB resident in: the brk heap, anonymous mappings (arenas, mmapped blocks), the rest."""
    heap = anon = other = 0
    try:
        with open(f"/proc/{pid}/smaps") as handle:
            name = ""
            for line in handle:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):     # a mapping's header line
                    fields = line.split()
                    name = fields[5] if len(fields) > 5 else ""
                elif first == "Rss:":
                    kib = int(line.split()[1])
                    if name == "[heap]":
                        heap += kib
                    elif name == "":
                        anon += kib
                    else:
                        other += kib
    except (FileNotFoundError, ProcessLookupError):
        return None
    return heap, anon, other


def child_of(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            return None
        if children:
            return int(children[0])
        time.sleep(0.01)
    return None


def run(argv, workdir, env=None, every=0.2):
    """Run `argv` under the wrapper: (usage from os.wait4, peak heap/anon/other KiB seen)."""
    usage_path = workdir / "usage.json"
    with open(workdir / "stdout.jsonl", "wb") as out, open(workdir / "stderr.log", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-S", str(WRAPPER), str(usage_path), *argv],
                                stdout=out, stderr=err, cwd=REPO, env={**os.environ, **(env or {})})
        tap = child_of(proc.pid)
        peaks = [0, 0, 0, 0]            # heap, anon, other, their sum
        while proc.poll() is None and tap is not None:
            seen = memory_of(tap)
            if seen:
                peaks = [max(p, s) for p, s in zip(peaks, [*seen, sum(seen)])]
            time.sleep(every)
        proc.wait()
    usage = json.loads(usage_path.read_text())
    if usage["returncode"] != 0:
        tail = (workdir / "stderr.log").read_text(errors="replace").splitlines()[-5:]
        raise SystemExit("the tap failed:\n" + "\n".join(tail))
    return usage, peaks


def records_in(path):
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.startswith(b'{"type":"RECORD"'))


def probe(n, args, root):
    workdir = root / str(n)
    workdir.mkdir()
    catalog = catalog_for(workdir, args.contract)
    with Emulator(seed=1, conversations=n, customers=1000, chat_fraction=0.2) as emu:
        config = write_config(emu, workdir, **json.loads(args.config))
        tap = [args.tap, "--config", str(config), "--catalog", str(catalog)]
        rows = []
        for _ in range(args.repeat):
            usage, peaks = run(tap, workdir)
            rows.append((usage, peaks))
        result = {"n": n, "records": records_in(workdir / "stdout.jsonl"),
                  "maxrss_mib": [round(u["maxrss_kib"] / 1024, 1) for u, _ in rows],
                  "heap_mib": [round(p[0] / 1024, 1) for _, p in rows],
                  "anon_mib": [round(p[1] / 1024, 1) for _, p in rows],
                  "files_mib": [round(p[2] / 1024, 1) for _, p in rows],
                  "cpu_s": [round(u["cpu"], 2) for u, _ in rows]}
        if args.trace:
            trace_out = workdir / "trace.json"
            traced = [sys.executable, "-c", TRACED, "--config", str(config), "--catalog", str(catalog)]
            run(traced, workdir, env={"PROBE_TRACE_OUT": str(trace_out), "PROBE_FRAMES": str(args.frames)})
            trace = json.loads(trace_out.read_text())
            currents = [c for _, c in trace["samples"]]
            result["traced_peak_mib"] = round(trace["peak"] / 2 ** 20, 1)
            result["traced_max_sampled_mib"] = round(max(currents, default=0) / 2 ** 20, 1)
            result["traced_end_mib"] = round(trace["end"] / 2 ** 20, 1)
            result["trace"] = trace
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="2000,5000,10000,20000")
    parser.add_argument("--contract", action="store_true", help="the bench's eleven streams only")
    parser.add_argument("--trace", action="store_true", help="also a run under tracemalloc")
    parser.add_argument("--frames", type=int, default=1, help="tracemalloc frames per allocation")
    parser.add_argument("--sites", type=int, default=5, help="growing allocation sites to print with --trace")
    parser.add_argument("--repeat", type=int, default=1, help="RSS runs per size")
    parser.add_argument("--config", default="{}", help="extra config keys, as JSON")
    parser.add_argument("--tap", default=str(Path(sys.executable).with_name("tap-helpscout")))
    parser.add_argument("--json", help="write every result (with the traces) to this file")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="memory-probe-") as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            result = probe(n, args, Path(tmp))
            results.append(result)
            line = (f"{n:>6} conversations {result['records']:>7} records  peak RSS {result['maxrss_mib']} MiB  "
                    f"(heap {result['heap_mib']}, anon mmaps {result['anon_mib']}, files {result['files_mib']})  "
                    f"cpu {result['cpu_s']} s")
            if args.trace:
                line += (f"  traced: peak {result['traced_peak_mib']}, max sampled "
                         f"{result['traced_max_sampled_mib']}, end {result['traced_end_mib']} MiB")
            print(line, flush=True)
            for site, size_diff, count_diff, _ in result.get("trace", {}).get("growth", [])[:args.sites]:
                print(f"        grew {size_diff / 1024:+9.1f} KiB {count_diff:+7d} blocks  {site}", flush=True)
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = min(last["maxrss_mib"]) / min(first["maxrss_mib"]) - 1
        print(f"peak RSS from {first['n']:,} to {last['n']:,} conversations: {growth:+.1%} "
              f"(lowest of the runs at each size)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
