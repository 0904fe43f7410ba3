"""`make demo`: the tap's main job against the project's Help Scout API emulator, no account needed.

Starts the emulator with a sample account on loopback, writes a config for it, runs discovery,
selects every stream but the daily reports, runs the pre-flight check (its estimate of the
backfill), a full sync (what it really cost) and then, after a few changes in the account, an
incremental one; writes the records as JSON Lines under demo-output/, prints a summary, the
commands it ran and the next step.
"""
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from tests.emulator import Emulator
from tests.support.tap_runner import DAILY_REPORTS, select

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "demo-output"
TAP = [sys.executable, "-m", "tap_helpscout"]
# "Finished mailboxes (3 records), mailbox_fields (9 records): 10 requests in 0.0 s"
FINISHED = re.compile(r"Finished (?P<names>[^:]+): (?P<requests>[\d,]+) requests? in (?P<seconds>[\d.]+) s")
FINISHED_NAME = re.compile(r"([a-z][a-z_]*) \([\d,]+ records?\)")
ESTIMATES = (re.compile(r"estimate of a full backfill: about (?P<requests>[\d,]+) requests"),
             re.compile(r"estimate of the docs_\* streams, a full read: about (?P<requests>[\d,]+) Docs API requests"))


COMMANDS = []                       # what the demo ran, shown at the end


def tap(*args):
    COMMANDS.append("tap-helpscout " + " ".join(
        str(Path(a).relative_to(ROOT)) if str(a).startswith(str(ROOT)) else str(a) for a in args))
    return subprocess.run(TAP + list(args), capture_output=True, text=True, cwd=ROOT, check=False)


def sync(name, config, catalog, state):
    """One run of the tap; its records go to demo-output/<name>/<stream>.jsonl."""
    folder = OUTPUT / name
    folder.mkdir(parents=True)
    args = ["--config", str(config), "--catalog", str(catalog)]
    if state:
        (folder / "state-in.json").write_text(json.dumps(state, indent=2))
        args += ["--state", str(folder / "state-in.json")]
    started = time.monotonic()
    run = tap(*args)
    seconds = time.monotonic() - started
    if run.returncode != 0:
        sys.exit(f"make demo: the tap failed:\n{run.stderr[-2000:]}")
    records, last_state = defaultdict(list), None
    for line in run.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records[message["stream"]].append(json.dumps(message["record"], ensure_ascii=False))
        elif message["type"] == "STATE":
            last_state = message["value"]
    for stream, lines in records.items():
        (folder / f"{stream}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "state.json").write_text(json.dumps(last_state, indent=2))
    families = [{**m.groupdict(), "names": FINISHED_NAME.findall(m["names"])} for m in FINISHED.finditer(run.stderr)]
    return {stream: len(lines) for stream, lines in records.items()}, families, last_state, seconds


def report(title, counts, families, seconds, streams):
    print(f"\n{title} ({seconds:.1f} s in all)")
    print(f"  {'stream':<26} {'records':>8} {'requests':>9} {'seconds':>8}")
    for family in families:
        for position, name in enumerate(family["names"]):
            # A family (a stream and its children) is read together: its requests and time are shared.
            secs, requests = (family["seconds"], family["requests"]) if position == 0 else ('"', '"')
            print(f"  {name:<26} {counts.get(name, 0):>8} {requests:>9} {secs:>8}")
    skipped = [s for s in streams if s not in {n for f in families for n in f["names"]}]
    if skipped:
        print("  (not synced: " + ", ".join(skipped) + ")")


def main():
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir()
    with Emulator(seed=1, conversations=500, customers=300, ratings=120, latency=0.002) as emu:
        print(f"Help Scout API emulator on {emu.base_url} "
              f"({len(emu.data.conversations)} conversations, {len(emu.data.customers)} customers)")
        config = OUTPUT / "config.json"
        config.write_text(json.dumps({
            "client_id": emu.client_id, "client_secret": emu.client_secret,
            "refresh_token": emu.refresh_token, "start_date": "2019-01-01T00:00:00Z",
            "base_url": emu.base_url, "user_agent": "tap-helpscout demo",
            "docs_api_key": emu.docs_api_key, "docs_base_url": emu.docs_base_url}, indent=2))
        discovery = tap("--config", str(config), "--discover")
        if discovery.returncode != 0:
            sys.exit(f"make demo: discovery failed:\n{discovery.stderr}")
        catalog_all = json.loads(discovery.stdout)
        streams = [s["tap_stream_id"] for s in catalog_all["streams"]]
        catalog = OUTPUT / "catalog.json"
        catalog.write_text(json.dumps(select(catalog_all), indent=2))
        print(f"Discovered {len(streams)} streams; all but {' and '.join(DAILY_REPORTS)} (a day of figures "
              f"per scope since 2019) selected in {catalog.relative_to(ROOT)}")

        checked = tap("--config", str(config), "--check", "--catalog", str(catalog))
        print("\nPre-flight check (--check):\n" + "\n".join("  " + line for line in checked.stdout.splitlines()))
        if checked.returncode != 0:
            sys.exit(f"make demo: the check found problems:\n{checked.stderr[-2000:]}")
        # The Mailbox API's backfill and the Docs API's full read, each estimated on its own line.
        estimated = sum(int(m["requests"].replace(",", "")) for m in
                        (pattern.search(checked.stdout) for pattern in ESTIMATES) if m)

        before = len(emu.requests)
        counts, families, state, seconds = sync("full", config, catalog, None)
        report("Full sync", counts, families, seconds, streams)
        spent = len(emu.requests) - before
        if estimated:
            print(f"\nThe check estimated {estimated:,} requests for this backfill; the full sync "
                  f"made {spent:,} (token request included).")

        # Some activity in the account between the two runs.
        for conversation in emu.data.conversations[:5]:
            emu.modify_conversation(conversation["id"])
        emu.add_thread(emu.data.conversations[10]["id"])
        emu.create_conversation()
        for customer in emu.data.customers[:3]:
            emu.modify_customer(customer["id"])
        print("\nIn the account: 5 conversations changed, 1 reply added, 1 conversation created, "
              "3 customers changed")

        before = Counter(r.path for r in emu.requests)
        counts, families, state, seconds = sync("incremental", config, catalog, state)
        report("Incremental sync", counts, families, seconds, streams)
        requests = sum((Counter(r.path for r in emu.requests) - before).values())
        print(f"\n{requests} HTTP requests for the incremental run. Records, catalog and state are in "
              f"{OUTPUT.relative_to(ROOT)}/ (full/ and incremental/, one .jsonl file per stream).")
    print("\nCommands run (against the emulator; each sync's stdout went to demo-output/):")
    for command in COMMANDS:
        print(f"  {command}")
    print("\nNext, with your own Help Scout account: README.md, section \"Using it with your Help Scout "
          "account\".\nIn short: create an app whose Redirection URL is http://127.0.0.1:8765/callback, "
          "put its App ID and App Secret\nin config.json as client_id and client_secret, then:\n"
          "  tap-helpscout --config config.json --authorize\n"
          "  tap-helpscout --config config.json --check")


if __name__ == "__main__":
    main()
