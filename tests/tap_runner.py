"""Run the real `tap-helpscout` executable in a subprocess and read what it wrote.

Every end-to-end test goes through `run_tap`, which also checks the one rule that holds for all
of them: no secret from the config (before or after a token rotation) appears in any output.
"""
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SECRET_KEYS = ("client_secret", "refresh_token", "access_token")
TAP = [sys.executable, "-m", "tap_helpscout"]


@dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list = field(default_factory=list)

    def records(self, stream=None):
        return [m["record"] for m in self.messages
                if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)]

    def record_counts(self):
        counts = {}
        for m in self.messages:
            if m["type"] == "RECORD":
                counts[m["stream"]] = counts.get(m["stream"], 0) + 1
        return counts

    def schemas(self):
        return {m["stream"]: m for m in self.messages if m["type"] == "SCHEMA"}

    def states(self):
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self):
        states = self.states()
        return states[-1] if states else None


def secrets_of(config):
    return {str(config[k]) for k in SECRET_KEYS if config.get(k)}


def write_json(path, value):
    path = Path(path)
    path.write_text(json.dumps(value, indent=2))
    return path


def run_tap(config_path, *args, catalog=None, state=None, workdir=None, check=True,
            timeout=300, extra_secrets=(), env=None):
    """Run the tap with `--config config_path` and `args`; `catalog`/`state` (dicts) are written
    to files in `workdir` and passed as `--catalog`/`--state`."""
    config_path = Path(config_path)
    workdir = Path(workdir or config_path.parent)
    argv = TAP + ["--config", str(config_path), *args]
    if catalog is not None:
        argv += ["--catalog", str(write_json(workdir / "catalog.json", catalog))]
    if state is not None:
        argv += ["--state", str(write_json(workdir / "state.json", state))]
    secrets = secrets_of(json.loads(config_path.read_text())) | set(extra_secrets)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parent.parent,
                          env={**os.environ, **(env or {})})
    try:
        secrets |= secrets_of(json.loads(config_path.read_text()))   # a rotated refresh token
    except ValueError:
        pass
    for secret in secrets:
        assert secret not in proc.stdout and secret not in proc.stderr, "a secret leaked into the output"
    run = TapRun(proc.returncode, proc.stdout, proc.stderr)
    if check:
        assert proc.returncode == 0, f"tap exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    if proc.returncode == 0 and "--discover" not in args:
        run.messages = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return run


def discover(config_path, **kwargs):
    run = run_tap(config_path, "--discover", **kwargs)
    return json.loads(run.stdout)


def select(catalog, streams=None):
    """Select `streams` (all when None) the way Meltano does: `selected: true` on every
    breadcrumb of each chosen stream."""
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        chosen = streams is None or entry["tap_stream_id"] in streams
        for item in entry["metadata"]:
            item["metadata"]["selected"] = chosen
    return catalog


def write_config(emu, directory, **extra):
    """A config for the emulator `emu` in `directory`/config.json (refresh-token flow)."""
    config = {"client_id": emu.client_id, "client_secret": emu.client_secret,
              "refresh_token": emu.refresh_token, "start_date": "2019-01-01T00:00:00Z",
              "base_url": emu.base_url, **extra}
    return write_json(Path(directory) / "config.json", config)


def run_until_killed(config_path, catalog, state, kill_after_lines, workdir, timeout=120):
    """Start the tap, read `kill_after_lines` lines of its output, then kill -9 it. Returns the
    messages a target would have committed: everything up to the last STATE it saw."""
    workdir = Path(workdir)
    argv = TAP + ["--config", str(config_path), "--catalog", str(write_json(workdir / "catalog.json", catalog))]
    if state is not None:
        argv += ["--state", str(write_json(workdir / "state.json", state))]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if len(lines) >= kill_after_lines:
                break
    finally:
        proc.kill()
        proc.wait(timeout=timeout)
        proc.stdout.close()
    messages = [json.loads(line) for line in lines if line.endswith("\n")]
    last_state = max((i for i, m in enumerate(messages) if m["type"] == "STATE"), default=-1)
    finished = len(lines) < kill_after_lines
    return TapRun(0 if finished else -9, "".join(lines), "", messages if finished else messages[:last_state + 1])
