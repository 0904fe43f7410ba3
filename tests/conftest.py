# ---------------------------------------------------------------------------------------------
# Help Scout API emulator fixtures (tests/emulator). Keep this group at the top of the file.
# ---------------------------------------------------------------------------------------------
import logging

import pytest

from tests.emulator import Emulator


@pytest.fixture(autouse=True)
def logging_enabled():
    """cli.main silences logging as the process ends; a test that calls it in process must not
    leave the next tests without logs."""
    yield
    logging.disable(logging.NOTSET)


@pytest.fixture
def make_emulator():
    """A factory: `make_emulator(**options)` starts an `Emulator(**options)` and returns it; every
    emulator started this way is stopped at teardown."""
    started = []

    def make(**options):
        emu = Emulator(**options).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def account(make_emulator, tmp_path):
    """A factory: `account(**options)` starts an emulated account (seed 7, 120 conversations,
    70 customers, 40 ratings unless `options` say otherwise) and returns it with a config for it
    in `tmp_path` and the full catalog (nothing selected)."""
    from tests.support.tap_runner import offline_catalog, write_config

    def start(**options):
        emu = make_emulator(**{"seed": 7, "conversations": 120, "customers": 70, "ratings": 40, **options})
        config = write_config(emu, tmp_path)
        return emu, config, offline_catalog()
    return start


# ---------------------------------------------------------------------------------------------
# (end of emulator fixtures)
# ---------------------------------------------------------------------------------------------
