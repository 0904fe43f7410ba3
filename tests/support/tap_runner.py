"""Run the real `tap-helpscout` executable in a subprocess and read what it wrote.

Every end-to-end test goes through `run_tap`, which also checks the one rule that holds for all
of them: no secret from the config (before or after a token rotation) appears in any output.
"""
import base64
import json
import os
import queue
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

SECRET_KEYS = ("client_secret", "refresh_token", "access_token", "docs_api_key")
TAP = [sys.executable, "-m", "tap_helpscout"]
# The real tap with backoff pauses of thousandths of a second instead of seconds (the tries stay
# as many): for the tests of failures that are retried, put it in TAP's place
# (monkeypatch.setattr(tap_runner, "TAP", QUICK_TAP)). The pauses' length is a module constant of
# the client, not a config key; the in-process client tests shorten it the same way.
QUICK_TAP = [sys.executable, "-c", "import tap_helpscout.api.client as h; h.BACKOFF_FACTOR_SECONDS = "
             "0.001; import tap_helpscout; tap_helpscout.main()"]
ROOT = Path(__file__).resolve().parents[2]


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
    found = {str(config[k]) for k in SECRET_KEYS if config.get(k)}
    if config.get("docs_api_key"):      # and the Basic header's forms of the Docs API key
        key = str(config["docs_api_key"])
        found |= {base64.b64encode(f"{key}:{password}".encode()).decode() for password in ("X", "")}
    return found


def secrets_on_disk(config_path):
    """The secrets in the config file as it is now, and in its token store (`--authorize` and
    rotations write new tokens there)."""
    try:
        config = json.loads(Path(config_path).read_text())
    except ValueError:
        return set()
    found = secrets_of(config)
    store = config.get("token_store_path")
    if store:
        store = Path(store) if os.path.isabs(store) else ROOT / store
        try:
            found |= secrets_of(json.loads(store.read_text()))
        except (OSError, ValueError):
            pass
    return found


def assert_no_secret(secrets, *outputs):
    for secret in secrets:
        assert all(secret not in output for output in outputs), "a secret leaked into the output"


def write_json(path, value):
    path = Path(path)
    path.write_text(json.dumps(value, indent=2))
    return path


def run_tap(config_path, *args, catalog=None, state=None, workdir=None, check=True,
            timeout=300, extra_secrets=(), env=None, stdin=None):
    """Run the tap with `--config config_path` and `args`; `catalog`/`state` (dicts) are written
    to files in `workdir` and passed as `--catalog`/`--state`; `stdin` (text) is its input."""
    config_path = Path(config_path)
    workdir = Path(workdir or config_path.parent)
    argv = TAP + ["--config", str(config_path), *args]
    if catalog is not None:
        argv += ["--catalog", str(write_json(workdir / "catalog.json", catalog))]
    if state is not None:
        argv += ["--state", str(write_json(workdir / "state.json", state))]
    secrets = secrets_on_disk(config_path) | set(extra_secrets)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})}, input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    secrets |= secrets_on_disk(config_path)       # a rotated refresh token, authorized tokens
    assert_no_secret(secrets, proc.stdout, proc.stderr)
    run = TapRun(proc.returncode, proc.stdout, proc.stderr)
    if check:
        assert proc.returncode == 0, f"tap exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    if proc.returncode == 0 and not {"--discover", "--check", "--authorize"} & set(args):
        run.messages = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return run


def discover(config_path, **kwargs):
    """The catalog, as the executable's `--discover` prints it."""
    run = run_tap(config_path, "--discover", **kwargs)
    return json.loads(run.stdout)


def offline_catalog():
    """The same catalog, built in this process, for tests that only need one to select from:
    discovery is static and offline (`--discover` prints exactly this: tests/unit/test_discovery.py
    and tests/integration/test_discovery.py), and an executable started for it costs a fifth of
    a second of CPU."""
    from tap_helpscout.discover import discover as build_catalog
    return json.loads(json.dumps(build_catalog()))


# Left out of `select(catalog)`: a day of figures per scope since the suite's start date (2019)
# costs thousands of requests a run; tests/integration/test_report_streams.py selects them.
DAILY_REPORTS = ("report_daily", "report_user_daily")


def select(catalog, streams=None):
    """Select `streams` (all but DAILY_REPORTS when None) the way Meltano does: `selected: true`
    on every breadcrumb of each chosen stream."""
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        chosen = entry["tap_stream_id"] in streams if streams is not None else \
            entry["tap_stream_id"] not in DAILY_REPORTS
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
                            cwd=ROOT)
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


class BackgroundTap:
    """The tap running in the background, for a mode that waits for someone (`--authorize`
    waits for the browser): read its stderr line by line, write to its stdin, then `finish()`,
    which checks that no secret (the config's, the tokens it stored, `extra_secrets`) reached
    its output."""

    def __init__(self, config_path, *args, env=None, extra_secrets=()):
        self.config_path = Path(config_path)
        self.extra_secrets = set(extra_secrets)
        self.secrets = secrets_on_disk(config_path)
        self.proc = subprocess.Popen(TAP + ["--config", str(config_path), *args], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, **(env or {})})
        self.stderr_lines = []
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, pattern, timeout=60):
        """The first match of `pattern` in the next stderr lines (AssertionError when the tap
        ends, or `timeout` passes, without one: a guard against hanging, not a timing check)."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; so far: {self.stderr_lines}") from None
            if line is None:
                raise AssertionError(f"the tap ended without a line matching {pattern!r}: {self.stderr_lines}")
            self.stderr_lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def send(self, text):
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def finish(self, timeout=120):
        """Wait for the end (its stdin is closed first: nothing more will be typed); a tap still
        running after `timeout` seconds fails the test (subprocess.TimeoutExpired)."""
        self.proc.stdin.close()
        read = []
        reader = threading.Thread(target=lambda: read.append(self.proc.stdout.read()), daemon=True)
        reader.start()
        self.proc.wait(timeout=timeout)
        reader.join(timeout=timeout)
        stdout = read[0] if read else ""
        self._reader.join(timeout=timeout)
        while True:
            line = self._lines.get_nowait() if not self._lines.empty() else None
            if line is None:
                break
            self.stderr_lines.append(line)
        self.proc.stdout.close()
        self.proc.stderr.close()
        stderr = "".join(self.stderr_lines)
        assert_no_secret(self.secrets | secrets_on_disk(self.config_path) | self.extra_secrets, stdout, stderr)
        return TapRun(self.proc.returncode, stdout, stderr)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
