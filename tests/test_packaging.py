"""Packaging (issue 13, item 10): the package builds through pyproject.toml's backend (PEP 517),
and the wheel holds what a non-editable install needs: the schemas, logging.conf, the metadata
and the console script. tests/e2e/test_install.py installs it with pip and with pipx."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tap_helpscout.version import VERSION

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("setup.py", "pyproject.toml", "README.md", "LICENSE")


def source_copy(destination):
    """The files a build reads, copied, so that the build leaves nothing in the work tree."""
    for name in SOURCES:
        shutil.copy(ROOT / name, destination / name)
    shutil.copytree(ROOT / "tap_helpscout", destination / "tap_helpscout",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def test_pyproject_declares_the_setuptools_backend():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'build-backend = "setuptools.build_meta"' in text
    assert "[project]" not in text      # the metadata has one home: setup.py


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
