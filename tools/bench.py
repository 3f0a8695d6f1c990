"""`make bench`: one table of speed, memory, wake-ups, store writes and code size; also written to out/bench.json.

Timings are printed, never asserted; the deterministic figures here are also checked by the test suite.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT / "lib", ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from tools import ble_bench, mpy_build  # noqa: E402
from tools.scenario import Scenario, load  # noqa: E402
from tools.sim import Simulation  # noqa: E402

POLL_10HZ_PER_DAY = 864000
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"


def probe(cmd, env):
    out = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, **env), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wakeups_at(ml_per_day):
    """One simulated day at a constant rate: wake-ups against steps + boundaries and 10 Hz polling."""
    conc = 1000 if ml_per_day > 1 else 10000  # morphine doses inside the example library's limits
    doc = {"days": 1, "pump": {"nl_per_step": 200}, "drug": {"name": "morphine", "concentration_ug_per_ml": conc},
           "fill_ul": 40000, "therapy": {"mode": "constant", "dose_ug_per_day": round(ml_per_day * conc)}}
    res = Simulation(Scenario(doc)).run()
    minimum = res["steps"] + 24  # every step, plus the hourly battery sample (midnight falls on one)
    return res["wakeups"], minimum


def year(name):
    sc = load(ROOT / "tools" / "scenarios" / name)
    t0 = time.perf_counter()
    res = Simulation(sc).run()
    return res, time.perf_counter() - t0


def main():
    rows = []

    def row(figure, value, budget, method):
        rows.append({"figure": figure, "value": value, "budget": budget, "method": method})

    mpy = probe([str(MICROPYTHON), "-X", "heapsize=2m", "tools/bench_cycle.py"], {"MICROPYPATH": ".frozen:lib:."})
    cpy = probe([sys.executable, "tools/bench_cycle.py"], {"PYTHONPATH": "lib:."})
    row("heap per step cycle, MicroPython", "%.3f B" % mpy["heap_bytes_per_cycle"], "0",
        "gc.mem_alloc over 2000 wake-ups; then 2000 more under heap_lock: %s"
        % ("no allocation" if mpy["heap_lock_cycles_ok"] else "ALLOCATED"))
    ble_heap = probe([str(MICROPYTHON), "-X", "heapsize=2m", "tools/bench_ble.py"],
                     {"MICROPYPATH": ".frozen:lib:host_tests:."})
    row("heap per BLE status notification, MicroPython", "%.3f B" % ble_heap["heap_bytes_per_notification"], "0",
        "gc.mem_alloc over %d notifications (a step and a status each wake); %d more under heap_lock: %s"
        % (ble_heap["notifications"], ble_heap["locked_notifications"],
           "no allocation" if ble_heap["heap_lock_ok"] else "ALLOCATED"))
    for ml in (0.05, 0.5, 5):
        woke, minimum = wakeups_at(ml)
        row("wake-ups per day at %g mL/day" % ml, "%d" % woke, "<= 1.05 x %d (min)" % minimum,
            "simulated day; minimum = steps + 24 battery samples; 10 Hz polling = %d (x%.0f)"
            % (POLL_10HZ_PER_DAY, POLL_10HZ_PER_DAY / woke))
    for name in ("constant_365d.json", "flex_365d.json"):
        res, secs = year(name)
        row("simulated days/s, %s" % name, "%.0f" % (res["days"] / secs), ">= 36",
            "%d steps, %d wake-ups, %d resets in %.2f s (CPython, exact reference checked at every wake-up)"
            % (res["steps"], res["wakeups"], res["resets"], secs))
        row("store writes per day, %s" % name, "%.1f" % res["store_writes_per_day"], "<= 96 + commands",
            "checkpoint every 900 s only when something changed, plus one per command")
    row("control cycle, MicroPython unix", "%.2f us" % mpy["cycle_us"], "-", "median of 15 x 500 wake-ups (x86-64)")
    row("control cycle, CPython", "%.2f us" % cpy["cycle_us"], "-",
        "same; MicroPython/CPython = %.2f" % (mpy["cycle_us"] / cpy["cycle_us"]))
    ble = asyncio.run(ble_bench.measure(20))
    row("BLE connect + discover", "%.1f ms" % ble["connect_discover_ms"], "-",
        "median of %d, in-process Bumble link (host stacks only, no radio); scan %.1f ms"
        % (ble["runs"], ble["scan_ms"]))
    row("BLE notification latency", "%.3f ms" % ble["notify_latency_ms"], "-",
        "gatts_notify to the central's queue, median of %d" % (10 * ble["runs"]))
    ble = asyncio.run(ble_bench.measure_pump(20))
    row("BLE pump connect + discover", "%.0f ms" % ble["pump_connect_discover_ms"], "-",
        "the pump service on a simulated pump: scan, connect, discover, subscribe; paced by its 1 s advertising")
    row("BLE pump command round trip", "%.2f ms" % ble["pump_command_ms"], "-",
        "HMAC command frames written, answer indicated and confirmed, median of 20; passkey pairing %.0f ms"
        % ble["pump_pair_ms"])
    row("BLE pump status after a step", "%.2f ms" % ble["pump_status_after_step_ms"], "-",
        "step delivered to status notification at the phone, median of 20")
    row("accounting lost on a power cut", "<= 900 s of steps", "one checkpoint",
        "power cut at every byte of every store write (host_tests/pure/test_powercut.py)")
    for board in sorted(mpy_build.BOARDS):
        errors, mpy_bytes, _src = mpy_build.build(board, ROOT / "build")
        row("firmware .mpy size, %s" % board, "%.1f KB" % (mpy_bytes / 1024), "<= 64 KB",
            "mpy-cross -march=%s of lib/pump + board%s" % (mpy_build.BOARDS[board], " (ERRORS)" if errors else ""))

    width = max(len(r["figure"]) for r in rows)
    vwidth = max(len(r["value"]) for r in rows)
    bwidth = max(len(r["budget"]) for r in rows)
    print()
    print("%-*s  %-*s  %-*s  %s" % (width, "figure", vwidth, "value", bwidth, "budget", "method"))
    print("-" * (width + vwidth + bwidth + 50))
    for r in rows:
        print("%-*s  %-*s  %-*s  %s" % (width, r["figure"], vwidth, r["value"], bwidth, r["budget"], r["method"]))
    (ROOT / "out").mkdir(exist_ok=True)
    (ROOT / "out" / "bench.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
