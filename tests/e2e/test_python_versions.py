"""The tap supports Python 3.9 to 3.13: its unit and integration suites (tests/unit,
tests/integration; not the emulator's own tests, which test the emulator) pass on the oldest and
the newest, each in a venv of its own with the package installed (`-e .[test]`). The integration
suite runs the tap's executable with the venv's interpreter, so this covers the tap's source on
that Python, not only the tests.

The two suites run at the same time, each on SUITE_WORKERS pytest-xdist workers, while the rest
of `make test` goes on (the suites make no timing assertion, so sharing the machine's cores
cannot make them fail); each is started by the module's fixture before the first of the two
tests waits for its result; a failing test is a failure, never run again. The two tests are one
xdist group: the fixture starts both suites once, on one worker of the outer run.
"""
import os
import re
import shutil
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.tools import REPO, file_digest, tool_venv

pytestmark = pytest.mark.e2e

# The oldest and newest supported Pythons (setup.py: python_requires=">=3.9"), as pyenv installs
# them on the project's machines; elsewhere from PATH (python3.9, python3.13).
PYTHONS = {"3.9": "/root/.pyenv/versions/3.9.18/bin/python",
           "3.13": "/root/.pyenv/versions/3.13.0/bin/python"}
SUITE_TIMEOUT = 900
SUITE_WORKERS = 4
SUITES = ["tests/unit", "tests/integration"]


def interpreter(version):
    pyenv = PYTHONS[version]
    return pyenv if Path(pyenv).exists() else shutil.which(f"python{version}")


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    """Each available Python's unit and integration suites, started at once: version -> (process,
    interpreter the venv reports) or the reason it cannot run. The venvs are made (or checked)
    at the same time too, and each suite starts as soon as its venv is ready."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_CURRENT_TEST")}
    scratch = {version: tmp_path_factory.mktemp(f"python{version}") for version in PYTHONS}

    def start(version):
        python = interpreter(version)
        if python is None:
            return f"Python {version} is not installed (neither {PYTHONS[version]} nor python{version} on PATH)"
        # setuptools: tests build the package, and venvs of Python >= 3.12 come without it.
        bindir = tool_venv(f"python{version}", "-e", f"{REPO}[test]", "setuptools", python=python,
                           fingerprint=file_digest(REPO / "setup.py", REPO / "pyproject.toml"))
        ran_on = subprocess.run([bindir / "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                capture_output=True, text=True, check=True).stdout.strip()
        process = subprocess.Popen(
            [bindir / "python", "-m", "pytest", "-q", "-m", "not e2e", *SUITES,
             "-n", str(SUITE_WORKERS), "--dist", "loadgroup",
             "-o", f"cache_dir={scratch[version] / 'cache'}", "--basetemp", scratch[version] / "tmp"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)       # its own process group: its workers and taps end with it
        return process, ran_on

    with ThreadPoolExecutor(len(PYTHONS)) as pool:
        futures = {version: pool.submit(start, version) for version in PYTHONS}
    started = {}
    try:
        for version, future in futures.items():
            started[version] = future.result()      # a venv that could not be made: an error
        yield started
    finally:
        for entry in [f.result() for f in futures.values() if f.exception() is None]:
            if not isinstance(entry, str) and entry[0].poll() is None:
                os.killpg(entry[0].pid, signal.SIGKILL)
                entry[0].wait()


def failures(output):
    """The start of the suite's failure reports (a timeout's dump of every thread's stack comes
    after the test's own), and the end of its output (the summary)."""
    start = output.find("= FAILURES =")
    head = output[max(0, start - 200):start + 6000] + "\n[...]\n" if start >= 0 else ""
    return head + output[-4000:]


# pytest.ini's 600 s per test is too short for a venv install plus a whole suite.
@pytest.mark.timeout(SUITE_TIMEOUT + 300)
@pytest.mark.xdist_group("python_versions")
@pytest.mark.parametrize("version", list(PYTHONS))
def test_unit_and_integration_suites_pass_on(version, suites):
    entry = suites[version]
    if isinstance(entry, str):
        if os.environ.get("CI"):
            pytest.fail(entry)   # the project's machines have it: its absence is a broken machine
        pytest.skip(entry)
    process, ran_on = entry
    assert ran_on == version
    output, _ = process.communicate(timeout=SUITE_TIMEOUT)
    assert process.returncode == 0, f"the unit and integration suites failed on Python {version}:\n{failures(output)}"
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary and "error" not in summary, summary
