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


# ---------------------------------------------------------------------------------------------
# (end of emulator fixtures)
# ---------------------------------------------------------------------------------------------
