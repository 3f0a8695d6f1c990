"""Fixtures of the emulator suite (`make emutest`): the inputs found or the suite skipped (failed under CI), an
emulator factory that closes what it starts, and a table of emulated against wall time at the end of the run."""

import os

import pytest

from verify.emu import images
from verify.emu.emulator import Emulator

_TIMES = []


def require(find, environ=None):
    """find()'s result; when it raises ImageMissing: skip with its one line, or fail when CI is set."""
    environ = os.environ if environ is None else environ
    try:
        return find(environ)
    except images.ImageMissing as err:
        if environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("%s (CI is set: a missing emulator input fails the run)" % err, pytrace=False)
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def rp2_images():
    require(images.find_node)
    return require(images.find_images)


@pytest.fixture
def boot(rp2_images, request):
    """boot(files=None, **kw) -> a running Emulator, closed after the test; its figures go to the table."""
    started = []

    def start(files=None, **kw):
        emu = Emulator(files, image=rp2_images, **kw)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.close()
        stats = emu.final_stats
        _TIMES.append((request.node.name, stats["t_ns"] / 1e9, emu.run_wall_s, stats["instructions"],
                       stats["idle_ns"] / 1e9))


def pytest_terminal_summary(terminalreporter):
    if not _TIMES:
        return
    write = terminalreporter.write_line
    write("")
    write("%-52s %10s %8s %9s %7s %8s" % ("scenario", "emulated s", "wall s", "M instr/s", "idle %", "emu/wall"))
    for name, emu_s, wall_s, instructions, idle_s in _TIMES:
        busy_wall = max(wall_s, 1e-9)
        write("%-52s %10.3f %8.3f %9.1f %7.1f %8.2f" % (
            name[:52], emu_s, wall_s, instructions / busy_wall / 1e6, 100 * idle_s / max(emu_s, 1e-9),
            emu_s / busy_wall))
    total_emu = sum(t[1] for t in _TIMES)
    total_wall = sum(t[2] for t in _TIMES)
    write("%-52s %10.3f %8.3f" % ("total", total_emu, total_wall))
