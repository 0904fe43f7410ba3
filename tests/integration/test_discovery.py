"""Discovery through the real executable: offline (the config's API is a closed loopback port),
the config file left untouched, no secret in the output, the catalog of every stream alone on
stdout. The catalog against the contract: tests/unit/test_discovery.py."""
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.contract import ALL_STREAMS
from tests.support.configs import REFRESH, SECRET, config_file

ROOT = Path(__file__).resolve().parents[2]


def closed_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]      # nothing listens once the socket is closed


@pytest.fixture
def offline_config(tmp_path):
    return config_file(tmp_path, base_url=f"http://127.0.0.1:{closed_loopback_port()}/v2")


def test_discovery_works_offline_and_leaves_the_config_file_untouched(offline_config):
    before = offline_config.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "tap_helpscout", "--config", str(offline_config),
                           "--discover"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["streams"]) == len(ALL_STREAMS)
    assert offline_config.read_bytes() == before
    for secret in (SECRET, REFRESH):
        assert secret not in proc.stdout + proc.stderr


def test_only_the_catalog_goes_to_stdout(offline_config):
    proc = subprocess.run([sys.executable, "-m", "tap_helpscout", "-c", str(offline_config), "-d"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    json.loads(proc.stdout)       # one JSON document, nothing else
