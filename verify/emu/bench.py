"""`make bench`'s figures from the real port: the firmware as deployed (.mpy) and frozen into an image built from the
shared source, on the emulated RP2040 with stock MicroPython v1.27.0 (RPI_PICO): the heap after boot and after an
emulated hour of dosing, flash operations per day, the step cycle (dose + checks) in cycles and µs at 125 MHz, and
the time from power-on to the first step. Every figure is measured from outside the firmware (the runner's clock,
cycle count and flash log, the STEP pin) except gc.mem_free(), which the test hook prints (verify/emu/hook.py).

    python -m verify.emu.bench [--frozen build/rp2-frozen/firmware.uf2] [--json out/emubench.json]
"""

import argparse
import json
import re
import sys

from tools.pumplink.serial import SerialLink
from verify.emu import firmware, images
from verify.emu.console import EmuPort
from verify.emu.emulator import Emulator
from verify.emu.pumprig import BATTERY_ADC, DIR, EN, FORWARD, PRESSURE_ADC, PRESSURE_PIN, STEP, adc_code

LABEL = "emulated RP2040, stock v1.27.0"
HOUR_MS = 3600000
CLK_MHZ = 125
_MEM = re.compile(rb"emuhook mem_free (\d+) mem_alloc (\d+) largest (\d+)")
STRETCH_MS = 60000


def rx(ml_per_day):
    """Morphine at 1000 ug/mL (below the library's soft minimum: confirmed), ml_per_day."""
    return {"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
            "therapy": {"mode": "constant", "dose_ug_per_day": round(ml_per_day * 1000)}}


class Bench:
    """One emulated board with the firmware booted and programmed through the wired path."""

    def __init__(self, uf2=None, frozen=False, hw=None, pump=None, hook=None):
        found = images.find_images()
        image = images.Images(uf2, found.bootrom) if uf2 else found
        files = firmware.files(hw, pump, hook, firmware=_frozen_files() if frozen else None)
        self.emu = Emulator(files, image=image, wall_limit_s=3600)
        self.emu.set_pin(EN, 1)
        self.emu.set_adc(BATTERY_ADC, adc_code(1950))
        self.emu.watch([STEP])

    def program(self, prescription):
        port = EmuPort(self.emu)
        link = SerialLink(port, firmware.CLINICIAN_KEY, clock=port.clock, name="emulated USB console")
        link.call("refill", fill_ul=20000, concentration_ug_per_ml=1000)
        link.call("program", prescription=prescription, confirm_soft=True)

    def close(self):
        self.emu.close()


def _frozen_files():
    """The deploy layout minus the .mpy files: the frozen image holds lib/pump and board."""
    return {path: data for path, data in firmware.built().items() if not path.endswith(".mpy")}


def heap_hours(ml_per_day, hours, uf2=None, frozen=False):
    """gc.mem_free() after boot, after the first emulated hour at ml_per_day and after `hours`; the flash operations
    and steps over those hours."""
    b = Bench(uf2, frozen, hook={"mem_every_ms": HOUR_MS})
    try:
        emu = b.emu
        boot = emu.expect(b"emuhook mem_free", 10000) + emu.expect(b"\n", 100)
        free = [int(_MEM.search(boot).group(1))]
        largest = int(_MEM.search(boot).group(3))
        b.program(rx(ml_per_day))
        emu.flash_ops(clear=True)
        emu.edges([STEP], clear=True)
        start_ms = emu.now_ms
        while len(free) <= hours:
            line = emu.expect(b"emuhook mem_free", HOUR_MS + 60000) + emu.expect(b"\n", 100)
            free.append(int(_MEM.search(line).group(1)))
        return {"free": free, "largest": largest, "flash_ops": emu.flash_ops()["total"], "ms": emu.now_ms - start_ms,
                "steps": emu.edges([STEP])[STEP].rising, "wall_s": emu.run_wall_s}
    finally:
        b.close()


def step_cycle(uf2=None, frozen=False):
    """Power-on to the app and to the first step of a stored program; the CPU's share of a step wake-up (Pump.tick
    with the pressure reads and every check, the stepper handing its pulse to the PIO and polling for the echo, the
    asyncio wake-up around it): the core's cycles over a stretch of dosing, less those of the same stretch
    suspended (the watchdog's feeds, the other tasks), per step on the STEP pin."""
    b = Bench(uf2, frozen, hw={"pressure_adc": PRESSURE_PIN}, pump={"checkpoint_interval_s": 86400})
    try:
        emu = b.emu
        emu.hydraulics(PRESSURE_ADC, step=STEP, dir=DIR, forward=FORWARD)
        emu.expect(b"pump 0.1.0 on pico_w", 10000)
        b.program(rx(15))  # one 200 nL step every 1152 ms
        emu.run(5000)
        emu.reset()  # power cycled with the program stored
        on_ns = emu.resets[-1]["t_ns"]
        emu.edges([STEP], clear=True)
        emu.expect(b"pump 0.1.0 on pico_w", 10000)
        app_ms = (emu.t_ns - on_ns) / 1e6
        emu.run(10000)
        first_ms = (emu.edges([STEP])[STEP].times_ns(1)[0] - on_ns) / 1e6
        cycles = []
        steps = []
        for suspended in (False, True):
            if suspended:
                port = EmuPort(emu)
                SerialLink(port, firmware.CLINICIAN_KEY, clock=port.clock).call("suspend")
                emu.run(5000)
            emu.edges([STEP], clear=True)
            before = emu.stats()["cycles"]
            emu.run(STRETCH_MS)
            cycles.append(emu.stats()["cycles"] - before)
            steps.append(emu.edges([STEP])[STEP].rising)
        assert steps[0] > 40 and steps[1] == 0, steps
        per = (cycles[0] - cycles[1]) / steps[0]
        return {"app_ms": app_ms, "first_step_ms": first_ms, "cycles": per, "us": per / CLK_MHZ, "steps": steps[0]}
    finally:
        b.close()


def figures(frozen_uf2=None):
    """[(figure, value, method)] for `make bench`; one row saying why when the emulator's inputs are missing."""
    try:
        images.find_node()
        images.find_images()
    except images.ImageMissing as e:
        return [("emulated RP2040 figures", "not run", str(e))]
    rows = []
    builds = [(".mpy", None, False)]
    if frozen_uf2:
        builds.append(("frozen", frozen_uf2, True))
    else:
        rows.append(("frozen image figures", "not run", "no frozen image: make frozen-image (needs make armdeps)"))
    for name, uf2, frozen in builds:
        for i, (ml, hours) in enumerate(((0.5, 6), (5, 2))):
            h = heap_hours(ml, hours, uf2, frozen)
            if i == 0:
                rows.append(("gc.mem_free() after boot, %s, %s" % (name, LABEL),
                             "%d B (largest block %d B)" % (h["free"][0], h["largest"]),
                             ("the test hook's gc.collect(), then gc.mem_free() as the app starts (ble on: RPI_PICO "
                              "has no radio), and the largest bytearray the heap then gives")))
            rows.append(("gc.mem_free() after an hour at %g mL/day, %s, %s" % (ml, name, LABEL),
                         "%d B" % h["free"][1],
                         "the same after an emulated hour of dosing%s (%d steps on the STEP pin in %d h, %.0f wall s)"
                         % ("; after %d h: %d B" % (hours, h["free"][-1]) if hours > 1 else "", h["steps"], hours,
                            h["wall_s"])))
            rows.append(("flash operations per day at %g mL/day, %s, %s" % (ml, name, LABEL),
                         "%d" % round(h["flash_ops"] * 86400000 / h["ms"]),
                         "erase + program operations the runner saw in %d emulated hour(s) (%d), per 24 h"
                         % (hours, h["flash_ops"])))
        c = step_cycle(uf2, frozen)
        rows.append(("step cycle (dose + checks), %s, %s" % (name, LABEL),
                     "%.0f cycles, %.0f us at 125 MHz" % (c["cycles"], c["us"]),
                     "the core's cycles (the runner's count) over %d s of dosing at 15 mL/day (%d step wake-ups: "
                     "Pump.tick, two pressure reads of 4 samples, every check, the PIO pulse and its echo polled), "
                     "less the same time suspended, per step" % (STRETCH_MS // 1000, c["steps"])))
        rows.append(("power-on to the app, and to the first step, %s, %s" % (name, LABEL),
                     "%.0f ms, %.0f ms" % (c["app_ms"], c["first_step_ms"]),
                     ("a stored 15 mL/day program (a step every 1152 ms, owed whole after a reset: no catch-up); "
                      "the first console line, the first STEP edge")))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m verify.emu.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--frozen", help="a .uf2 with the firmware frozen in (make frozen-image)")
    ap.add_argument("--json", help="write the rows here too")
    args = ap.parse_args(argv)
    rows = figures(args.frozen)
    for figure, value, method in rows:
        print("%-72s %-28s %s" % (figure, value, method))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"figure": a, "value": b, "method": c} for a, b, c in rows], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
