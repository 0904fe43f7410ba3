"""The documentation of the config keys prints from the command line
(`python -m tap_helpscout.settings --markdown | --meltano`), exactly as settings.py makes it.
That the README and meltano.yml say the same: tests/unit/test_settings.py."""
import subprocess
import sys
from pathlib import Path

from tap_helpscout import settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_prints_from_the_command_line():
    for flag, expected in (("--markdown", settings.markdown_table()), ("--meltano", settings.meltano_yaml())):
        proc = subprocess.run([sys.executable, "-m", "tap_helpscout.settings", flag], capture_output=True,
                              text=True, timeout=60, cwd=ROOT, check=True)
        assert proc.stdout == expected
