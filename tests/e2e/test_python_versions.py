"""The tap supports Python 3.9 to 3.13: the fast unit suite (everything not marked e2e) passes on
the oldest and the newest, each in a venv of its own with the package installed (`-e .[test]`).
The suite runs the tap's executable with the venv's interpreter, so this covers the tap's source
on that Python, not only the tests.

The two suites run one after the other: the unit suite has timing-sensitive tests (rate-limit
pacing), which two suites sharing the machine's two cores would make flaky. For the same reason
the tests that fail are run once more: an incompatibility with a Python version (syntax, an
import, a changed library call) fails every time, while a timing flake passes the second time;
the main suite, on the default Python, is where such a flake must be fixed.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.tools import REPO, file_digest, tool_venv

pytestmark = pytest.mark.e2e

# The oldest and newest supported Pythons (setup.py: python_requires=">=3.9"), as pyenv installs
# them on the project's machines; elsewhere from PATH (python3.9, python3.13).
PYTHONS = {"3.9": "/root/.pyenv/versions/3.9.18/bin/python",
           "3.13": "/root/.pyenv/versions/3.13.0/bin/python"}
SUITE_TIMEOUT = 900


def interpreter(version):
    pyenv = PYTHONS[version]
    return pyenv if Path(pyenv).exists() else shutil.which(f"python{version}")


# pytest.ini's 600 s per test is too short for a venv install plus a whole suite.
@pytest.mark.timeout(SUITE_TIMEOUT + 300)
@pytest.mark.parametrize("version", list(PYTHONS))
def test_unit_suite_passes_on(version, tmp_path):
    python = interpreter(version)
    if python is None:
        message = f"Python {version} is not installed (neither {PYTHONS[version]} nor python{version} on PATH)"
        if os.environ.get("CI"):
            pytest.fail(message)   # the project's machines have it: its absence is a broken machine
        pytest.skip(message)
    # setuptools: tests/test_discovery.py builds the package with `setup.py build_py`, and venvs
    # of Python >= 3.12 come without setuptools (the test extra does not list it).
    bindir = tool_venv(f"python{version}", "-e", f"{REPO}[test]", "setuptools", python=python,
                       fingerprint=file_digest(REPO / "setup.py", REPO / "pyproject.toml"))
    ran_on = subprocess.run([bindir / "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert ran_on == version

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_CURRENT_TEST")}

    def unit_suite(*options):
        return subprocess.run(
            [bindir / "python", "-m", "pytest", "-q", "-m", "not e2e", "--ignore", "tests/e2e",
             "-o", f"cache_dir={tmp_path / 'cache'}", "--basetemp", tmp_path / "tmp", *options],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT)

    first = unit_suite()
    proc = first if first.returncode == 0 else unit_suite("--last-failed", "--last-failed-no-failures", "none")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"the unit suite failed on Python {version}, twice:\n{output[-8000:]}"
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary and "error" not in summary, summary
    if first is not proc:
        flaky = [line for line in first.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        print(f"Python {version}: failed at first, passed when run again (timing flakes):", *flaky, sep="\n  ")
