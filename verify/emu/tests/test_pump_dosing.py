"""The deployed pump firmware on the emulated Pico (stock RPI_PICO v1.27.0, no wireless chip), programmed through the
programmer's wired path, judged from its pins and console: the driver is off from power-on except in bursts, the
STEP pin follows the dose plan within one step at no more than max_steps_per_s, DIR never changes while dosing."""

import re

from verify.emu.pumprig import DIR, EN, FORWARD, MAX_STEPS_PER_S, STEP, steps_expected

NL_PER_STEP = 20  # ten steps per 200 nL: many steps in a short emulated stretch
RX = {"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
      "therapy": {"mode": "constant", "dose_ug_per_day": 15000}}  # 15 mL/day: 8.68 steps a second
RATE_NL_PER_DAY = 15000000


def _bursts(en_edges):
    """[(t_low, t_high)] of the intervals EN was low (driver on)."""
    out, low = [], None
    for t, level in en_edges:
        if level == 0:
            low = t
        elif low is not None:
            out.append((low, t))
            low = None
    assert low is None, "EN still low at the end"
    return out


def test_a_pico_without_ble_boots_doses_to_the_plan_and_the_driver_is_off_outside_bursts(pump, steps):
    # the default config.json (ble: 1) on a board whose MicroPython has no bluetooth module: it used to stop at boot
    rig = pump(pump={"nl_per_step": NL_PER_STEP})
    assert rig.levels[EN] == 1  # the pull-up, before the first instruction
    console = rig.started()
    assert console.count(b"no BLE on this board") == 1 and b"status on the console only" in console
    assert b"PUMP STOPPED" not in console
    assert rig.programmer("refill", "--fill-ul", "20000", "--concentration", "1000")[0] == 0
    code, line = rig.send(RX, "--confirm-soft")
    assert code == 0, line
    programmed_ms = rig.emu.now_ms
    rig.emu.run(5000)  # the program starts
    start_ms = rig.emu.now_ms
    stretch_ms = 20000
    rig.emu.run(stretch_ms)
    e = rig.edges()
    rising = [t for t, lv in e[STEP].edges if lv == 1]
    in_stretch = [t for t in rising if start_ms * 1e6 <= t < (start_ms + stretch_ms) * 1e6]
    expected = steps_expected(RATE_NL_PER_DAY, NL_PER_STEP, stretch_ms)
    steps(expected, len(in_stretch))
    assert expected <= len(in_stretch) <= expected + 1  # the dose plan's whole steps over any stretch, +-1 at most
    # (a) EN: high from power-on to the first burst, low only around STEP pulses, high between bursts
    bursts = _bursts(e[EN].edges)
    assert bursts and rising and bursts[0][0] > programmed_ms * 1e6 * 0.99 and bursts[0][0] < rising[0]
    inside = 0
    for low, high in bursts:
        pulses = [t for t in rising if low < t < high]
        assert pulses, "EN low without a step"
        assert pulses[0] - low >= 100_000  # en_setup_us
        inside += len(pulses)
    assert inside == len(rising)  # every pulse inside a burst
    # (b) DIR set forward before the first step and never changed while dosing; the rate within max_steps_per_s
    assert [lv for t, lv in e[DIR].edges if t < rising[0]] == [FORWARD]  # set when the board was built
    assert [lv for t, lv in e[DIR].edges if t >= rising[0]] == [] and rig.emu.pin_state(DIR)["level"] == FORWARD
    gaps = [b - a for a, b in zip(rising, rising[1:])]
    assert min(gaps) >= 1e9 / MAX_STEPS_PER_S * 0.999
    st = rig.status()
    assert st["state_name"] == "running" and st["rate_nl_per_day"] == RATE_NL_PER_DAY
    assert st["today_nl"] == len(rising) * NL_PER_STEP  # what the pump counted is what the pin did
    # the console stays the REPL's: Ctrl-C (as mpremote sends it) stops the app, the raw REPL answers, and the
    # maintenance path (tools/deploy) switches the watchdog off: no step and no reset afterwards, EN high
    assert b"@pump" not in rig.emu.console.replace(b"@pump ans", b"").replace(b"@pump sta", b"")
    assert rig.emu.exec("print('at the REPL')").strip() == "at the REPL"
    stopped_ns = rig.emu.t_ns
    from tools.deploy.deploy import maintenance_code

    rig.emu.exec(maintenance_code("pico_w", EN))
    rig.emu.run(12000)  # past the app's 8 s watchdog
    assert [r["cause"] for r in rig.emu.resets] == ["power_on"]
    e = rig.edges()
    assert not [t for t, lv in e[STEP].edges if t > stopped_ns] and rig.emu.pin_state(EN)["level"] == 1


def test_the_deployed_pump_boots_with_a_heap_in_one_piece_for_the_program_store(pump):
    # the .mpy deploy loads 107 KB of bytecode into the Pico's heap: with the boot's garbage left among it, the
    # program store's 8 KB buffer found no block with 98 KB free and the pump stopped in the fail-safe (the buffer is
    # 4 KB since: with the secure session, the trial and the refill checks, 12.8 KB was the largest block left). A
    # block of twice the buffer must stay free once the app runs, so more code cannot bring it back unnoticed
    rig = pump(hook={"mem_every_ms": 3600000})
    line = rig.emu.expect(b"emuhook mem_free", 10000) + rig.emu.expect(b"\n", 100)
    assert b"PUMP STOPPED" not in rig.emu.console
    free, largest = (int(x) for x in re.search(rb"mem_free (\d+) mem_alloc \d+ largest (\d+)", line).groups())
    print("after boot: %d B free, largest block %d B" % (free, largest))
    assert largest >= 2 * (4096 + 14), (free, largest)  # the program store's buffer: its 4 KB and the record's frame
