"""Fixtures of the end-to-end tests: a small emulated Help Scout account with a config and a
catalog selecting every stream, and one PostgreSQL server for the whole session (of a worker)."""
import pytest

from tests.e2e.tools import PostgresServer
from tests.support.tap_runner import discover, select, write_config, write_json

# Small on purpose: these tests prove compatibility, not volume (tests/integration/test_sync.py does that),
# and each tool's own start-up dominates their time. Still large enough for several pages of
# conversations (25 a page) and customers (50 a page), and for every trap of the dataset,
# IDs above 2^31 included.
SMALL_ACCOUNT = {"conversations": 60, "customers": 40, "ratings": 20}


@pytest.fixture
def small_account(make_emulator, tmp_path):
    """(emulator, config path, path of a catalog with every stream selected)."""
    def start(seed=5, **options):
        emu = make_emulator(seed=seed, **{**SMALL_ACCOUNT, **options})
        config = write_config(emu, tmp_path)
        catalog = write_json(tmp_path / "selected-catalog.json", select(discover(config)))
        return emu, config, catalog
    return start


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of the suite's own, on a free loopback port, removed at the end (one
    per pytest-xdist worker: each worker is a session)."""
    server = PostgresServer().start()
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()
