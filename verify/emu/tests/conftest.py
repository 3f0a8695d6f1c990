"""Fixtures of the emulator suite (`make emutest`): the inputs found or the suite skipped (failed under CI), an
emulator factory that closes what it starts, the deployed pump (verify/emu/pumprig.py), and a table at the end of the
run: per scenario its emulated and wall seconds, the steps expected and counted on the STEP pin, and the result."""

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
    emu_s = wall_s = 0.0
    for emu in started:
        emu.close()
        emu_s += emu.final_stats["t_ns"] / 1e9
        wall_s += emu.run_wall_s
    if started:
        _TIMES.append([request.node, emu_s, wall_s])


@pytest.fixture
def steps(request):
    """steps(expected, counted): the STEP pin's count against the dose plan's, for the table (a text for a bound)."""

    def note(expected, counted):
        request.node.steps = (expected, counted)

    return note


@pytest.fixture
def pump(boot):
    """pump(hw=, pump=, hook=, battery_mv=) -> a PumpRig: the deploy layout booted, pins watched from power-on."""
    from verify.emu.pumprig import PumpRig

    rigs = []

    def make(**kw):
        rigs.append(PumpRig(boot, **kw))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or report.outcome != "passed":
        item.result = report.outcome


def pytest_terminal_summary(terminalreporter):
    if not _TIMES:
        return
    write = terminalreporter.write_line
    write("")
    write("%-72s %10s %8s %10s %10s %7s" % ("scenario", "emulated s", "wall s", "expected", "counted", "result"))
    for node, emu_s, wall_s in _TIMES:
        expected, counted = getattr(node, "steps", ("", ""))
        write("%-72s %10.3f %8.2f %10s %10s %7s" % (
            node.name[:72], emu_s, wall_s, expected, counted, getattr(node, "result", "?")))
    write("%-72s %10.3f %8.2f" % ("total", sum(t[1] for t in _TIMES), sum(t[2] for t in _TIMES)))
