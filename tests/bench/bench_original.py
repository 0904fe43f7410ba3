"""The original tap-helpscout 1.2.2, installed from PyPI into its own venv and pointed at the
emulator without changing its code.

The original hardcodes `https://api.helpscout.net/v2` twice (the API root in
`HelpScoutClient.request` and the token URL in `get_access_token`), and both go through
`requests.Session.request`. A `sitecustomize.py` on its PYTHONPATH wraps that one method to
rewrite the prefix to the emulator's base URL; nothing else is touched, so what we measure is
the original's own paging, transforms and output.
"""
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ORIGINAL_REQUIREMENT = "tap-helpscout==1.2.2"
HELPSCOUT_ROOT = "https://api.helpscout.net/v2"
REDIRECT_ENV = "BENCH_HELPSCOUT_BASE_URL"

SHIM = f'''"""Bench shim (written by tests/bench/bench_original.py): send the original tap's requests to the
emulator. Loaded at interpreter start because its directory is on PYTHONPATH."""
import os

_TARGET = os.environ.get("{REDIRECT_ENV}")
if _TARGET:
    import requests.sessions

    _request = requests.sessions.Session.request

    def request(self, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith("{HELPSCOUT_ROOT}"):
            url = _TARGET + url[len("{HELPSCOUT_ROOT}"):]
        return _request(self, method, url, *args, **kwargs)

    requests.sessions.Session.request = request
'''


class OriginalTap:
    def __init__(self, root):
        self.root = Path(root)
        self.venv = self.root / "original-venv"
        self.shim_dir = self.root / "original-shim"
        self.python = self.venv / "bin" / "python"
        self.executable = self.venv / "bin" / "tap-helpscout"

    def install(self):
        """Create the venv and install the original from the package registry, once."""
        stamp = self.venv / ".installed"
        if not (stamp.exists() and stamp.read_text() == ORIGINAL_REQUIREMENT):
            print(f"bench: installing {ORIGINAL_REQUIREMENT} into {self.venv}", file=sys.stderr, flush=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(self.venv)
            subprocess.run([str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            ORIGINAL_REQUIREMENT], check=True)
            stamp.write_text(ORIGINAL_REQUIREMENT)
        self.shim_dir.mkdir(parents=True, exist_ok=True)
        (self.shim_dir / "sitecustomize.py").write_text(SHIM)
        return self

    def env(self, base_url):
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PYTHONPATH"] = str(self.shim_dir)
        env[REDIRECT_ENV] = base_url.rstrip("/")
        return env

    def catalog(self):
        """The original's own catalog. Its `--discover` asks for an access token first (and
        rotates the refresh token), so build it from its discover() function directly."""
        out = subprocess.run([str(self.python), "-c",
                              "import json; from tap_helpscout.discover import discover; "
                              "print(json.dumps(discover().to_dict()))"],
                             check=True, capture_output=True, text=True, env=self.env("http://unused"),
                             cwd=self.root)     # not the repository: its tap_helpscout would shadow the original
        return json.loads(out.stdout)

    def argv(self, config_path, catalog_path, state_path=None):
        argv = [str(self.executable), "--config", str(config_path), "--catalog", str(catalog_path)]
        if state_path:
            argv += ["--state", str(state_path)]
        return argv


class OurTap:
    """This repository's tap as a user installs it: `pip install` of the repository (not
    editable: byte-compiled, no import hook, only the runtime dependencies) into a venv of its
    own, reinstalled on every bench run so that it is the working tree's code."""

    def __init__(self, root, repo):
        self.root = Path(root)
        self.repo = Path(repo)
        self.venv = self.root / "ours-venv"
        self.python = self.venv / "bin" / "python"
        self.executable = self.venv / "bin" / "tap-helpscout"

    def install(self):
        stamp = self.venv / ".dependencies"
        setup = (self.repo / "setup.py").read_text()
        pip = [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        if not (stamp.exists() and stamp.read_text() == setup):
            print(f"bench: installing this tap and its dependencies into {self.venv}", file=sys.stderr, flush=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(self.venv)
            subprocess.run(pip + [str(self.repo)], check=True)
            stamp.write_text(setup)
        subprocess.run(pip + ["--force-reinstall", "--no-deps", str(self.repo)], check=True,
                       cwd=self.root)
        return self

    def env(self):
        return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def argv(self, config_path, catalog_path, state_path=None):
        argv = [str(self.executable), "--config", str(config_path), "--catalog", str(catalog_path)]
        if state_path:
            argv += ["--state", str(state_path)]
        return argv
