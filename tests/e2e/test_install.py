"""Packaging (issue 13, item 10), as a user installs the tap: `pip install .` into a fresh venv
builds through pyproject.toml's backend without pip's legacy-install deprecation, and
`pipx install .` works; both installed commands run from a non-editable copy (the schemas and
logging.conf come from the wheel)."""
import json
import os
import re
import subprocess
import sys

import pytest

from tap_helpscout.version import VERSION
from tests.e2e.tools import tool_venv
from tests.support.source_tree import source_copy

pytestmark = pytest.mark.e2e

PIPX = "pipx==1.18.4"
TIMESTAMPED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR) ")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    return {**env, **extra}


def check_installed_command(command, tmp_path):
    """The installed command runs: its version, and an offline discovery (the schemas and the
    logging configuration are read from the installed package, away from the source tree)."""
    version = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"tap-helpscout {VERSION}", version
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"access_token": "offline", "typo_kye": 1}))
    discovery = subprocess.run([command, "--config", str(config), "--discover"], capture_output=True,
                               text=True, timeout=60, cwd=tmp_path)
    assert discovery.returncode == 0, discovery.stderr
    assert len(json.loads(discovery.stdout)["streams"]) >= 11
    # The unknown key's warning, with the time logging.conf puts on every line.
    lines = discovery.stderr.strip().splitlines()
    assert lines and all(TIMESTAMPED.match(line) for line in lines), discovery.stderr


def test_pip_install_builds_with_the_backend_without_deprecation(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    source_copy(source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # With setuptools and wheel in the environment, pip builds a project that has no
    # pyproject.toml the legacy way, through `setup.py` (deprecated since pip 24.2).
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                    "setuptools>=70.1", "wheel"], check=True, timeout=600, env=clean_env())
    proc = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-cache-dir", "--disable-pip-version-check",
                           str(source)], capture_output=True, text=True, timeout=900, cwd=tmp_path, env=clean_env())
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    # About the tap only: singer-python, an sdist without pyproject.toml, still builds the old way.
    ours = [line for line in output.splitlines() if "tap-helpscout" in line or "tap_helpscout" in line]
    assert not [line for line in ours if "DEPRECATION" in line or "(setup.py)" in line], ours
    assert "Building wheel for tap-helpscout (pyproject.toml)" in output, output[-5000:]
    check_installed_command(venv / "bin" / "tap-helpscout", tmp_path)


def test_pipx_install_works(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    source_copy(source)
    pipx = tool_venv("pipx", PIPX) / "pipx"
    env = clean_env(PIPX_HOME=str(tmp_path / "pipx-home"), PIPX_BIN_DIR=str(tmp_path / "bin"),
                    PIPX_MAN_DIR=str(tmp_path / "man"))
    proc = subprocess.run([str(pipx), "install", str(source)], capture_output=True, text=True, timeout=900,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    check_installed_command(tmp_path / "bin" / "tap-helpscout", tmp_path)
