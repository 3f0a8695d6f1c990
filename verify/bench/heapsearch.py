"""Least heap of the whole app on a MicroPython unix-port binary: the probe runs and the -X heapsize= search.

Shared by `make bench` (the pinned interpreter, modules loaded as .mpy) and `make frozen-bench` (an interpreter with
the firmware frozen into its image). The probe is verify/bench/app.py: every task of pump.app.App on the simulated
board in virtual time, by default with the BLE service on the fake radio and a central connected.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import tools
from tools.deploy import mpy_build

ROOT = Path(tools.ROOT)

MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"  # the pinned unix port (requirements.txt)
# MICROPYPATH of a probe run from source, from the repository root: asyncio frozen into the interpreter, lib/, and
# the root (board.sim's fake radio, which the BLE probes use)
MICROPYPATH = ".frozen:lib:."

# board modules the whole-app probe needs besides lib/pump (board/sim is host-only: a board's own module is smaller)
SIM_BOARD_FILES = ("__init__.py", "drivers.py", "failsafe.py", "sim/__init__.py", "sim/aes.py", "sim/bleconst.py",
                   "sim/clock.py",
                   "sim/flash.py", "sim/hardware.py", "sim/hydraulics.py", "sim/plant.py", "sim/radio.py",
                   "sim/roles.py")


def probe(cmd, env=None, check=True):
    """Run a probe; the last stdout line is its JSON. None when it failed and check is False."""
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, **(env or {})), capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        if check:
            raise RuntimeError("%s failed:\n%s%s" % (" ".join(map(str, cmd)), proc.stdout[-2000:], proc.stderr[-2000:]))
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def unix_mpy_tree(out, frozen_first=True):
    """lib/pump and the board modules cross-compiled to bytecode .mpy for the unix port (as the boards load them);
    returns the MICROPYPATH that finds them after .frozen (asyncio), or, with frozen_first=False, before it, so that
    an interpreter with the firmware frozen in still loads them into its heap."""
    binary = mpy_build._mpy_cross_binary()
    files = sorted((ROOT / "lib" / "pump").glob("*.py"))
    files += [ROOT / "board" / n for n in SIM_BOARD_FILES]
    for src in files:
        rel = src.relative_to(ROOT)
        dst = Path(out) / rel.with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([binary, "-o", str(dst), str(rel)], cwd=ROOT, check=True)
    if frozen_first:
        return ".frozen:%s/lib:%s:lib:." % (out, out)
    return "%s/lib:%s:.frozen:." % (out, out)


def conc_ug_per_ml(ml_per_day):
    """Morphine concentration whose dose at `ml_per_day` stays inside the example drug library's limits."""
    return 1000 if ml_per_day > 1 else 10000


def app_run(mpy_path, heap_kb, days, ml_per_day=0.5, ble=True, micropython=MICROPYTHON):
    """The whole app (verify/bench/app.py; with `ble`, the BLE service on the fake radio, a central connected) for
    `days` at `heap_kb`; its JSON, or None when it ran out of heap."""
    conc = conc_ug_per_ml(ml_per_day)
    cmd = [str(micropython), "-X", "heapsize=%dk" % heap_kb, "verify/bench/app.py", str(days),
           str(round(ml_per_day * conc)), str(conc)] + (["ble"] if ble else [])
    res = probe(cmd, {"MICROPYPATH": mpy_path}, check=False)
    print("  app %g days in %d KB at %g mL/day%s: %s" % (days, heap_kb, ml_per_day, " with BLE" if ble else "",
                                                          "ran" if res else "out of heap"), file=sys.stderr)
    if res is None or res.get("fault"):
        return None
    return res


def min_heap_kb(mpy_path, days=7, lo=64, hi=512, step=4, probe_days=0.25, **run):
    """Least -X heapsize (KB, multiple of `step`) on which the app runs `days` (`run`: app_run's ble, micropython).

    Bisected on `probe_days` runs (every hourly sample, checkpoint and status line comes round in them) between `lo`
    (checked to fail) and `hi` (checked to run). A `days` run needs more (the simulated flash, which lives in the
    heap, fills its log ring over the first days): from there the step doubles until a `days` run passes, then the
    last gap is bisected on `days` runs."""
    def runs(kb, d):
        return app_run(mpy_path, kb, d, **run) is not None

    if not runs(hi, probe_days):
        raise RuntimeError("the app does not run in %d KB" % hi)
    if runs(lo, probe_days):
        raise RuntimeError("the app runs in %d KB already: search from a lower bound" % lo)
    hi = _bisect(lambda kb: runs(kb, probe_days), lo, hi, step)
    lo, grow = hi - step, step  # lo: the last size known to fail (probe_days runs fail below hi)
    while not runs(hi, days):
        lo, hi, grow = hi, hi + grow, grow * 2
    return _bisect(lambda kb: runs(kb, days), lo, hi, step)


def _bisect(fits, lo, hi, step):
    """Least multiple of `step` in (lo, hi] that fits, given that lo does not and hi does."""
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if mid <= lo:
            mid = lo + step
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi
