"""The deployed pump on the emulated Pico through a hang and a press: a task made to hang (the test hook, never
deployed) ends in a watchdog reset after which the pump resumes its program without a catch-up bolus; the patient
bolus button grants a bolus and refuses the next one inside the lockout, each answered by its own beep and logged.
Judged from the STEP and buzzer pins, the resets the chip went through, the console and the event log in flash."""

from pump import events as ev
from pump.button import BEEP_GRANTED, BEEP_REFUSED
from pump.errors import E_LOCKOUT
from pump.eventlog import RECORD_SIZE, decode
from verify.emu.pumprig import BUTTON, BUZZER, STEP, steps_expected

NL_PER_STEP = 20
RX = {"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
      "therapy": {"mode": "constant", "dose_ug_per_day": 15000}}  # 15 mL/day of 20 nL steps: 8.68 a second
RATE_NL_PER_DAY = 15000000
WATCHDOG_MS = 8000  # pump.app: the RP2040 watchdog's timeout as the app arms it


def _rising(edges, since_ns=0, until_ns=float("inf")):
    return [t for t, lv in edges if lv == 1 and since_ns <= t < until_ns]


def _log(files):
    """(seq, code, a, b) of every event record in the pump's log segments in flash, oldest first."""
    out = []
    for name in sorted(f for f in files if f.startswith("data/log.")):
        blob = files[name]
        for i in range(0, len(blob) - RECORD_SIZE + 1, RECORD_SIZE):
            rec = decode(blob, i)
            if rec is not None:
                out.append((rec[0], rec[2], rec[3], rec[4]))
    return sorted(out)


def _programmed(rig, rx=RX):
    rig.started()
    assert rig.programmer("refill", "--fill-ul", "20000", "--concentration", "1000")[0] == 0
    code, line = rig.send(rx, "--confirm-soft")
    assert code == 0, line


def test_a_hung_task_ends_in_a_watchdog_reset_and_the_pump_resumes_without_catch_up(pump, steps):
    rig = pump(pump={"nl_per_step": NL_PER_STEP}, hook={"hang_after_ms": 15000})
    _programmed(rig)
    emu = rig.emu
    emu.expect(b"emuhook hang", 20000)
    hung_ns = emu.t_ns
    before = _rising(rig.edges()[STEP].edges)
    assert before and before[-1] < hung_ns
    emu.run(WATCHDOG_MS + 500)
    assert [r["cause"] for r in emu.resets] == ["power_on", "watchdog"]
    reset_ns = emu.resets[-1]["t_ns"]
    assert WATCHDOG_MS * 1e6 * 0.95 < reset_ns - before[-1] < WATCHDOG_MS * 1e6 * 1.05  # its last feed, then 8 s
    assert not _rising(rig.edges()[STEP].edges, hung_ns, reset_ns)
    after_boot = emu.expect(b"pump 0.1.0 on pico_w", 5000) + emu.expect(b"\n", 100)
    assert b"constant" in after_boot and b"emuhook hang" not in emu.console[emu.resets[-1]["console_offset"]:]
    emu.run(200)
    status = emu.expect(b"\n", 3000)
    assert b"ALARM WATCHDOG_RESET" in status  # latched for someone to look at why
    boot_ns = emu.t_ns
    emu.run(20000)
    stretch = _rising(rig.edges()[STEP].edges, boot_ns)
    expected = steps_expected(RATE_NL_PER_DAY, NL_PER_STEP, (emu.t_ns - boot_ns) // 1000000)
    steps(expected, len(stretch))
    # the steps owed for the hang and the reboot (some 80) are forfeited: no catch-up bolus
    assert expected - 1 <= len(stretch) <= expected + 1
    assert min(b - a for a, b in zip(stretch, stretch[1:])) > 100e6  # one step a wake-up, never a burst
    boots = [a for _seq, code, a, _b in _log(emu.files()) if code == ev.BOOT]
    assert boots[-2:] == [0, 1]  # the log in flash: a power-on boot, then the watchdog's (RESET_WATCHDOG)


def _press(emu, at_ms, hold_ms):
    """A press of the button to GND with 3 ms of contact bounce each way (the host drives the released level too:
    the pad's pull-up)."""
    t = at_ms
    emu.drive(BUTTON, [(t, 0), (t + 1, 1), (t + 2, 0), (t + 3, 1), (t + 4, 0),
                       (t + 4 + hold_ms, 1), (t + 5 + hold_ms, 0), (t + 6 + hold_ms, 1)])


def _tones(edges, since_ns):
    """[(Hz, ms)] of the buzzer's tones after since_ns (a gap over 10 ms ends one)."""
    rising = _rising(edges, since_ns)
    out, start, prev = [], None, None
    for t in rising + [None]:
        if t is not None and prev is not None and t - prev < 10e6:
            prev = t
            continue
        if start is not None and prev > start:
            n = sum(1 for r in rising if start <= r <= prev)
            period = (prev - start) / (n - 1)
            out.append((round(1e9 / period), round((prev - start + period) / 1e6)))
        start = prev = t
    return out


def test_the_bolus_button_grants_then_refuses_inside_the_lockout_with_different_beeps_and_logs_both(pump, steps):
    rx = dict(RX, therapy={"mode": "constant", "dose_ug_per_day": 5000},  # 5 mL/day: a 200 nL step every 3.5 s
              patient_bolus={"dose_ug": 25, "duration_min": 1, "lockout_min": 60, "max_per_day": 4})
    rig = pump(hw={"bolus_button": BUTTON, "pressure_adc": None})
    rig.emu.set_pin(BUTTON, 1)
    _programmed(rig, rx)
    emu = rig.emu
    emu.run(10000)
    pressed_ns = emu.t_ns
    _press(emu, emu.now_ms + 100, 300)
    emu.run(70000)
    bolus = _rising(rig.edges()[STEP].edges, pressed_ns)
    # 25 ug at 1000 ug/mL: 25 uL, 125 steps of 200 nL over the minute, beside the basal's 20 in 70 s
    expected = 125 + steps_expected(5000000, 200, 70000)
    steps(expected, len(bolus))
    assert expected - 1 <= len(bolus) <= expected + 1
    granted = [t for t in _tones(rig.edges()[BUZZER].edges, pressed_ns) if abs(t[0] - BEEP_GRANTED[0]) < 20]
    assert len(granted) == 1 and abs(granted[0][1] - BEEP_GRANTED[1][0]) <= 3  # one tone's periods: +-1 of them
    refused_ns = emu.t_ns
    _press(emu, emu.now_ms + 100, 200)  # inside the 60 min lockout
    emu.run(15000)
    assert len(_rising(rig.edges()[STEP].edges, refused_ns)) <= steps_expected(5000000, 200, 15000) + 1
    refused = [t for t in _tones(rig.edges()[BUZZER].edges, refused_ns) if abs(t[0] - BEEP_REFUSED[0]) < 10]
    assert len(refused) == 2 and all(abs(ms - BEEP_REFUSED[1][0]) <= 3 for _hz, ms in refused)
    assert not [t for t in _tones(rig.edges()[BUZZER].edges, refused_ns) if abs(t[0] - BEEP_GRANTED[0]) < 20]
    log = [(code, a, b) for _s, code, a, b in _log(emu.files()) if code in (ev.BOLUS_GRANTED, ev.BOLUS_REFUSED)]
    assert log == [(ev.BOLUS_GRANTED, 25000, ev.BOLUS_PATIENT), (ev.BOLUS_REFUSED, E_LOCKOUT, ev.BOLUS_PATIENT)]
