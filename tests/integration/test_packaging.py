"""Packaging (issue 13, item 10): the package builds through pyproject.toml's backend (PEP 517),
and the wheel holds what a non-editable install needs: the schemas, logging.conf, the metadata
and the console script; setup.py's build ships the schemas and logging.conf.
tests/e2e/test_install.py installs it with pip and with pipx; the backend's declaration:
tests/unit/test_packaging.py."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tap_helpscout.version import VERSION
from tests.support.contract import ALL_STREAMS
from tests.support.source_tree import source_copy

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_schemas_logging_conf_metadata_and_the_command(tmp_path):
    (tmp_path / "src").mkdir()
    source = source_copy(tmp_path / "src")
    # Without build isolation: the venv's own setuptools, no download (the e2e test does both).
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-cache-dir", "-w", str(tmp_path / "dist"), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list((tmp_path / "dist").glob("tap_helpscout-*.whl"))
    assert [w.name for w in wheels] == [f"tap_helpscout-{VERSION}-py3-none-any.whl"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        info = f"tap_helpscout-{VERSION}.dist-info"
        metadata = wheel.read(f"{info}/METADATA").decode()
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    schemas = {p.name for p in (ROOT / "tap_helpscout" / "schemas").glob("*.json")}
    assert schemas and {n.split("/")[-1] for n in names if n.startswith("tap_helpscout/schemas/")} == schemas
    assert "tap_helpscout/logging.conf" in names
    assert f"Version: {VERSION}" in metadata.splitlines()
    assert any(line.startswith("Requires-Dist: singer-python") for line in metadata.splitlines())
    assert "tap-helpscout = tap_helpscout:main" in entry_points


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The package built as pip would (setup.py build_py), once for the tests below."""
    build = tmp_path_factory.mktemp("build_py")
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    return build


# One worker builds once for both (and no two builds run at once in the work tree).
@pytest.mark.xdist_group("setup_py_build")
def test_schema_files_ship_with_the_package(built):
    """A non-editable install gets the schemas."""
    shipped = {p.stem for p in (built / "tap_helpscout" / "schemas").glob("*.json")}
    assert shipped == set(ALL_STREAMS)


@pytest.mark.xdist_group("setup_py_build")
def test_the_logging_configuration_ships_with_the_package(built):
    assert (built / "tap_helpscout" / "logging.conf").is_file()
