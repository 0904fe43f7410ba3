"""Packaging: the build backend is declared in pyproject.toml, the metadata lives in setup.py.
Building and what the wheel holds: tests/integration/test_packaging.py."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_declares_the_setuptools_backend():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'build-backend = "setuptools.build_meta"' in text
    assert "[project]" not in text      # the metadata has one home: setup.py
