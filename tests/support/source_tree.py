"""A copy of the files a build of the package reads, for the tests that build it (wheel, pip,
pipx), so that a build leaves nothing in the work tree."""
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("setup.py", "pyproject.toml", "README.md", "LICENSE")


def source_copy(destination):
    """The files a build reads, copied into `destination` (which must exist); returns it."""
    for name in SOURCES:
        shutil.copy(ROOT / name, destination / name)
    shutil.copytree(ROOT / "tap_helpscout", destination / "tap_helpscout",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return destination
