"""The unit tests' rule, enforced: no sockets, no subprocesses, no real sleeping (a fake clock
where time matters). A test that needs any of them belongs in tests/integration."""
import socket
import subprocess
import time

import pytest

LONGEST_SLEEP = 0.05      # seconds: a yield to another thread, not a wait


@pytest.fixture(autouse=True)
def no_sockets_subprocesses_or_sleeps(monkeypatch):
    def refuse(what):
        def refused(*args, **kwargs):
            raise AssertionError(f"a unit test may not {what}: move it to tests/integration")
        return refused

    real_sleep = time.sleep

    def short_sleep(seconds):
        if seconds > LONGEST_SLEEP:
            refuse(f"sleep {seconds} s")()
        real_sleep(seconds)

    for name in ("connect", "connect_ex", "bind", "listen"):
        monkeypatch.setattr(socket.socket, name, refuse(f"use a socket ({name})"))
    monkeypatch.setattr(socket, "create_connection", refuse("open a connection"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a subprocess"))
    monkeypatch.setattr(time, "sleep", short_sleep)
