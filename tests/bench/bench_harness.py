"""Running a tap (ours or the original) against an in-process emulator, and measuring it.

Each run is one fresh child process of a small wrapper (bench_wrapper.py), reaped with os.wait4
so that its CPU time and peak RSS are its own (RUSAGE_CHILDREN would mix every earlier child into
ru_maxrss, and a child forked from the bench itself would inherit the bench's high-water mark). Its stdout goes to a
file, not through a pipe into this process: the emulator shares this process's GIL, and the
bench must not slow it down while the tap runs.
"""
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tests.emulator.server import TOKEN_PATH
from tests.support.tap_runner import select

REPO = Path(__file__).resolve().parents[2]
START_DATE = "2019-01-01T00:00:00Z"
USER_AGENT = "tap-helpscout-bench (bench@example.com)"


@dataclass
class Run:
    label: str
    returncode: int
    wall: float                 # seconds, process start to exit
    cpu: float                  # user + system seconds of the tap process
    maxrss_kib: int
    records: Counter
    requests: list              # the emulator's LoggedRequest entries, token endpoint excluded
    token_requests: int
    throttled: int
    last_state: dict
    stdout_path: Path
    stderr_tail: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def record_total(self):
        return sum(self.records.values())

    @property
    def request_span(self):
        """First request's arrival to the last request's end, in seconds."""
        if not self.requests:
            return 0.0
        return max(r.time + r.duration for r in self.requests) - min(r.time for r in self.requests)

    def requests_by_path(self):
        return Counter(r.path for r in self.requests)


def write_json(path, value):
    Path(path).write_text(json.dumps(value, indent=2))
    return Path(path)


# The original integration's streams: what both taps are asked for, so that they compare.
CONTRACT_STREAMS = ("conversations", "conversation_threads", "customers", "happiness_ratings_report",
                    "mailbox_fields", "mailbox_folders", "mailboxes", "team_members", "teams", "users",
                    "workflows")


def our_catalog(workdir):
    """Our tap's offline discovery, the eleven streams of the original selected."""
    config = write_json(Path(workdir) / "discover-config.json",
                        {"client_id": "x", "client_secret": "x", "refresh_token": "x", "start_date": START_DATE})
    out = subprocess.run([sys.executable, "-m", "tap_helpscout", "--config", str(config), "--discover"],
                         check=True, capture_output=True, text=True, cwd=REPO)
    return select(json.loads(out.stdout), CONTRACT_STREAMS)


@contextmanager
def cpus_apart():
    """While measuring CPU: the bench process (with the emulator's threads) on one CPU and the
    tap on another, as when the API runs on another machine, so that the two do not compete for
    the same cores. Yields the environment entry for bench_wrapper.py ({} when there are fewer
    than two CPUs or no affinity support)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:
        allowed = []
    if len(allowed) < 2:
        yield {}
        return
    threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    for tid in threads:
        os.sched_setaffinity(tid, {allowed[0]})
    try:
        yield {"BENCH_TAP_CPU": str(allowed[1])}
    finally:
        for tid in [int(t) for t in os.listdir("/proc/self/task")]:
            try:
                os.sched_setaffinity(tid, set(allowed))
            except OSError:                       # a thread that ended meanwhile
                pass


def run_process(argv, env, stdout_path, stderr_path, cwd):
    """Run `argv` under bench_wrapper.py; (returncode, wall, cpu, maxrss_kib) of `argv` alone."""
    usage_path = Path(stdout_path).with_suffix(".usage.json")
    wrapper = [sys.executable, "-S", str(Path(__file__).with_name("bench_wrapper.py")), str(usage_path)]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        subprocess.run(wrapper + [str(a) for a in argv], stdout=out, stderr=err, env=env, cwd=cwd)
    usage = json.loads(usage_path.read_text())
    return usage["returncode"], usage["wall"], usage["cpu"], usage["maxrss_kib"], usage["stime"]


def read_output(stdout_path):
    """Record counts per stream and the last STATE value, without keeping the records."""
    counts, last_state = Counter(), None
    with open(stdout_path, "rb") as handle:
        for line in handle:
            if line.startswith(b'{"type": "RECORD"') or line.startswith(b'{"type":"RECORD"'):
                # Both taps write `{"type": "RECORD", "stream": "<name>", ...`: read the name only.
                start = line.index(b'"stream"') + 8
                start = line.index(b'"', start) + 1
                counts[line[start:line.index(b'"', start)].decode()] += 1
            elif b'"STATE"' in line[:20]:
                last_state = json.loads(line)["value"]
    return counts, last_state


def read_records(stdout_path):
    """Every record dict a run emitted (for the CPU floor)."""
    records = []
    with open(stdout_path, "rb") as handle:
        for line in handle:
            if b'"RECORD"' in line[:20]:
                records.append(json.loads(line)["record"])
    return records


def run_tap(label, emu, workdir, argv_for, env, config_extra=None, state=None, original=False):
    """Run one tap against `emu` with a fresh config (the emulator's current refresh token)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = {"client_id": emu.client_id, "client_secret": emu.client_secret,
              "refresh_token": emu.refresh_token, "start_date": START_DATE, "user_agent": USER_AGENT}
    if not original:
        config["base_url"] = emu.base_url
    config.update(config_extra or {})
    config_path = write_json(workdir / "config.json", config)
    state_path = write_json(workdir / "state.json", state) if state is not None else None
    argv = argv_for(config_path, state_path)
    emu.clear_requests()
    throttled_before = emu.throttled
    returncode, wall, cpu, maxrss, system_cpu = run_process(argv, env, workdir / "stdout.jsonl", workdir / "stderr.log", REPO)
    log = list(emu.requests)
    records, last_state = read_output(workdir / "stdout.jsonl")
    lines = (workdir / "stderr.log").read_text(errors="replace").splitlines()
    stderr_tail = "\n".join(lines[-6:]) if returncode != 0 else ""
    # Our tap's summary line counts the times its rate limiter held requests back.
    pacer_waits = 0
    for line in lines:
        found = re.search(r"([\d,]+) rate-limit waits?\b", line)
        if found:
            pacer_waits = int(found.group(1).replace(",", ""))
    return Run(label=label, returncode=returncode, wall=wall, cpu=cpu, maxrss_kib=maxrss, records=records,
               requests=[r for r in log if r.path != TOKEN_PATH],
               token_requests=sum(1 for r in log if r.path == TOKEN_PATH),
               throttled=emu.throttled - throttled_before, last_state=last_state,
               stdout_path=workdir / "stdout.jsonl", stderr_tail=stderr_tail,
               extra={"system_cpu": system_cpu, "pacer_waits": pacer_waits})


class ApiReader:
    """The bench's own reads from the emulator (floors, response bodies); never logged in a
    measured run because every run clears the log first."""

    def __init__(self, emu):
        self.emu = emu
        self.token = emu.issue_access_token()
        self.root = emu.base_url.rsplit("/v2", 1)[0]

    def raw(self, path_and_query):
        request = urllib.request.Request(self.root + path_and_query,
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request) as answer:
            return answer.read()

    def get(self, path, **params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return json.loads(self.raw(f"/v2{path}" + (f"?{query}" if query else "")))


def pages_of(answer):
    """Requests a HAL listing needs: its page count, and one request even when it is empty."""
    return max(1, int((answer.get("page") or {}).get("totalPages") or 0))


def request_floor(emu):
    """The fewest requests a full backfill of every stream can make, by category.

    Conversations come 25 a page with their threads embedded; a conversation whose embedded
    threads are incomplete (chats are truncated, fewer are embedded than its count) needs its
    own thread listing, 50 a page. A conversation with exactly 25 threads embedded (the API's
    cap) may have more than its count says (line items and drafts): no tap can know without its
    listing, so those listings are counted apart ("25-cap listings") and in the floor. Small
    listings need their pages; the report needs its pages over the whole range from start_date
    to now in one query."""
    api = ApiReader(emu)
    floor = {}
    first = api.get("/conversations", status="all", embed="threads", page=1)
    conversation_pages = pages_of(first)
    floor["conversation pages"] = conversation_pages
    thread_listings = at_cap = 0
    for number in range(1, conversation_pages + 1):
        page = first if number == 1 else api.get("/conversations", status="all", embed="threads", page=number)
        for item in (page.get("_embedded") or {}).get("conversations", []):
            embedded = (item.get("_embedded") or {}).get("threads") or []
            listing = max(1, math.ceil((item.get("threads") or 0) / 50))
            if item.get("type") == "chat" or len(embedded) < (item.get("threads") or 0):
                thread_listings += listing
            elif len(embedded) >= 25:
                at_cap += listing
    floor["thread listings"] = thread_listings + at_cap
    floor["25-cap listings"] = at_cap
    floor["customer pages"] = pages_of(api.get("/customers", page=1))
    small = 0
    for path, key in (("/mailboxes", "mailboxes"), ("/users", "users"), ("/teams", "teams"),
                      ("/workflows", "workflows")):
        answer = api.get(path, page=1)
        small += pages_of(answer)
        ids = [item["id"] for item in (answer.get("_embedded") or {}).get(key, [])]
        for number in range(2, pages_of(answer) + 1):
            ids += [item["id"] for item in (api.get(path, page=number).get("_embedded") or {}).get(key, [])]
        children = {"/mailboxes": ("fields", "folders"), "/teams": ("members",)}.get(path, ())
        for parent_id in ids:
            for child in children:
                small += pages_of(api.get(f"{path}/{parent_id}/{child}", page=1))
    floor["small streams"] = small
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = api.get("/reports/happiness/ratings", start=START_DATE, end=now, page=1)
    floor["report pages"] = max(1, int(report.get("pages") or 0))
    floor["total"] = sum(v for k, v in floor.items() if k != "25-cap listings")
    return floor


def categorize(run):
    """A run's requests in the floor's categories."""
    categories = Counter()
    for request in run.requests:
        parts = request.path.split("/")          # ['', 'v2', 'conversations', id, 'threads']
        if parts[2] == "conversations":
            categories["thread listings" if len(parts) > 3 else "conversation pages"] += 1
        elif parts[2] == "customers":
            categories["customer pages"] += 1
        elif parts[2] == "reports":
            categories["report pages"] += 1
        else:
            categories["small streams"] += 1
    return categories


def response_bodies(emu, run):
    """The bodies of the requests `run` made, fetched again from the (unchanged) emulator."""
    api = ApiReader(emu)
    return [api.raw(r.path + (f"?{r.raw_query}" if r.raw_query else "")) for r in run.requests
            if 200 <= r.status < 300]


def json_floor_seconds(bodies, records, repeats=3):
    """CPU seconds to json.loads the bodies and json.dumps the records: the least any tap
    must spend to read these answers and write these rows. Best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for body in bodies:
            json.loads(body)
        for record in records:
            json.dumps(record)
        best = min(best, time.process_time() - started)
    return best
