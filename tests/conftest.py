# ---------------------------------------------------------------------------------------------
# Help Scout API emulator fixtures (tests/emulator). Keep this group at the top of the file.
# ---------------------------------------------------------------------------------------------
import pytest

from tests.emulator import Emulator


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
def emulator(make_emulator):
    """A default emulator (seed 1, 200 conversations, plus plan, no rate limiting)."""
    return make_emulator()

# ---------------------------------------------------------------------------------------------
# (end of emulator fixtures)
# ---------------------------------------------------------------------------------------------
