# ---------------------------------------------------------------------------------------------
# Help Scout API emulator fixtures (tests/emulator). Keep this group at the top of the file.
# ---------------------------------------------------------------------------------------------
import logging
import signal

import pytest

from tests.emulator import Emulator


def pytest_configure(config):
    """The tests send SIGINT and SIGHUP to the taps they start, and the tap keeps a signal that
    whoever started it ignores ignored (`nohup`). A suite started in the background by a script
    (where the shell ignores SIGINT) or under nohup would pass that on to every tap it starts:
    the suite's processes take the default handling back first."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_IGN:
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)


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
