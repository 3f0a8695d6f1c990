"""Alarms: codes and priorities as docs/safety.md lists them, latching, acknowledge, silence, the ERI repeat, who owns
the buzzer, patterns, no allocation on the per-step calls; the buzzer and LED roles on the boards and the sim."""

from board import drivers
from board.sim.clock import VirtualClock
from board.sim.roles import SimBuzzer, SimLed
from pump import alarms as al
from pump import events as ev
from pump.compat import TICKS_MASK, ticks_add
from pump.errors import E_RANGE, PumpError

from support import raises
from support.heap import micropython_or_skip

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

T0 = TICKS_MASK - 60000  # a minute before the ticks wrap
UNKNOWN = len(al.NAME) + 1  # the first code no alarm has
DOC_PRIO = {"high": al.PRIO_HIGH, "medium": al.PRIO_MEDIUM, "low": al.PRIO_LOW}


def _doc_path():
    here = __file__
    for _ in range(3):
        here = here[: here.rfind("/")] if "/" in here else "."
    return here + "/docs/safety.md"


def _rig():
    log = []
    return al.Alarms(lambda e, c: log.append((e, c))), log


def test_codes_names_and_priorities_match_the_safety_doc():
    rows = []
    with open(_doc_path()) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and cells[0].isdigit():
                rows.append((int(cells[0]), cells[1], DOC_PRIO[cells[2]]))
    assert len(rows) == len(al.NAME)
    for code, name, prio in rows:
        assert al.NAME[code] == name
        assert al.PRIORITY[code] == prio
        assert getattr(al, "A_" + name) == code
        assert code in al.TEXT
    assert sorted(al.NAME) == list(range(1, len(al.NAME) + 1))


def test_raise_latch_acknowledge_clear_and_new_occurrence():
    a, log = _rig()
    assert a.set_condition(al.A_OCCLUSION, True, T0)
    assert a.is_active(al.A_OCCLUSION) and a.active_bitmap == 1
    assert not a.set_condition(al.A_OCCLUSION, True, T0 + 1)  # still the same occurrence
    assert not a.set_condition(al.A_OCCLUSION, False, T0 + 2)  # gone, but latched until acknowledged
    assert a.is_active(al.A_OCCLUSION)
    assert not a.set_condition(al.A_OCCLUSION, True, T0 + 3)  # back before the acknowledgement: same occurrence
    assert not a.set_condition(al.A_OCCLUSION, False, T0 + 4)
    assert log == [(ev.ALARM_RAISED, al.A_OCCLUSION)]
    assert a.acknowledge(T0 + 5) == 1
    assert not a.is_active(al.A_OCCLUSION) and a.active_bitmap == 0
    assert log[1:] == [(ev.ALARM_ACK, al.A_OCCLUSION), (ev.ALARM_CLEARED, al.A_OCCLUSION)]
    assert a.set_condition(al.A_OCCLUSION, True, T0 + 6)  # a new occurrence, logged again
    assert log[3:] == [(ev.ALARM_RAISED, al.A_OCCLUSION)]
    assert a.since_ms[al.A_OCCLUSION] == T0 + 6


def test_acknowledged_alarm_stays_until_its_condition_is_gone():
    a, log = _rig()
    a.set_condition(al.A_RESERVOIR_LOW, True, T0)
    assert a.acknowledge(T0 + 10, al.A_RESERVOIR_LOW) == 1
    assert a.is_active(al.A_RESERVOIR_LOW) and a.is_acknowledged(al.A_RESERVOIR_LOW)
    assert a.sounding(T0 + 11) == 0 and a.highest() == al.A_RESERVOIR_LOW  # quiet, but the LED still shows it
    assert a.acknowledge(T0 + 12) == 0  # nothing left to acknowledge
    assert a.set_condition(al.A_RESERVOIR_LOW, False, T0 + 20)  # cleared at once: it was acknowledged
    assert not a.is_active(al.A_RESERVOIR_LOW)
    assert [e for e, _ in log] == [ev.ALARM_RAISED, ev.ALARM_ACK, ev.ALARM_CLEARED]


def test_acknowledge_one_code_or_all():
    a, log = _rig()
    for c in (al.A_OCCLUSION, al.A_RESERVOIR_LOW, al.A_STORE_CORRUPT):
        a.set_condition(c, True, T0)
    assert a.active_bitmap == (1 << 0) | (1 << 2) | (1 << 12)
    assert a.acknowledge(T0, al.A_RESERVOIR_LOW) == 1
    assert a.acknowledge(T0, al.A_RESERVOIR_LOW) == 0
    assert a.acknowledge(T0) == 2
    assert a.acknowledge(T0, al.A_BATTERY_ERI) == 0  # not active
    with raises(PumpError) as e:
        a.acknowledge(T0, UNKNOWN)
    assert e.value.code == E_RANGE


def test_bad_codes_are_refused():
    a, _ = _rig()
    for code in (0, -1, UNKNOWN):
        with raises(PumpError) as e:
            a.set_condition(code, True, T0)
        assert (e.value.code, e.value.detail) == (E_RANGE, "code")
    assert not a.is_active(0) and not a.is_active(99)
    assert a.active_bitmap == 0


def test_highest_and_sounding_follow_priority_then_lowest_code():
    a, _ = _rig()
    assert a.highest() == 0 and a.sounding(T0) == 0
    a.set_condition(al.A_BATTERY_ERI, True, T0)  # low
    assert a.highest() == al.A_BATTERY_ERI and a.sounding(T0) == al.A_BATTERY_ERI
    a.set_condition(al.A_STORE_CORRUPT, True, T0)  # medium
    a.set_condition(al.A_WATCHDOG_RESET, True, T0)  # medium, lower code
    assert a.highest() == al.A_WATCHDOG_RESET and a.sounding(T0) == al.A_WATCHDOG_RESET
    a.set_condition(al.A_TASK_FAULT, True, T0)  # high
    a.set_condition(al.A_MOTOR_STALL, True, T0)  # high, lower code
    assert a.highest() == al.A_MOTOR_STALL and a.sounding(T0) == al.A_MOTOR_STALL
    a.acknowledge(T0, al.A_MOTOR_STALL)
    assert a.highest() == al.A_MOTOR_STALL  # still active (condition present)
    assert a.sounding(T0) == al.A_TASK_FAULT  # the buzzer passes to the next unacknowledged one


def test_silence_is_bounded_and_ends_by_itself():
    a, _ = _rig()
    a.set_condition(al.A_OCCLUSION, True, T0)
    assert a.next_deadline(T0) is None
    assert a.silence(T0, 600000) == al.SILENCE_MAX_MS
    end = ticks_add(T0, al.SILENCE_MAX_MS)
    assert a.next_deadline(T0) == end
    assert a.sounding(T0) == 0 and a.highest() == al.A_OCCLUSION
    assert a.sounding(ticks_add(end, -1)) == 0  # across the ticks wrap
    assert a.sounding(end) == al.A_OCCLUSION  # re-annunciates at the end, even before advance()
    assert not a.advance(ticks_add(end, -1))
    assert a.advance(end)
    assert a.sounding(end) == al.A_OCCLUSION and a.next_deadline(end) is None
    assert a.silence(end, -5) == 0 and a.silence(end, 30000) == 30000
    with raises(PumpError):
        a.silence(end, 1.5)


def test_alarm_raised_during_a_silence_sounds_at_once():
    a, _ = _rig()
    a.set_condition(al.A_BATTERY_ERI, True, T0)
    a.silence(T0, 60000)
    assert a.sounding(T0 + 1) == 0
    a.set_condition(al.A_RESERVOIR_LOW, True, T0 + 2)
    assert a.sounding(T0 + 3) == al.A_RESERVOIR_LOW
    a.silence(T0 + 4, 0)  # a zero silence ends the silence
    assert a.sounding(T0 + 5) == al.A_RESERVOIR_LOW
    a.acknowledge(T0 + 6, al.A_RESERVOIR_LOW)
    assert a.sounding(T0 + 7) == al.A_BATTERY_ERI


def test_eri_repeats_a_day_after_acknowledgement_while_present():
    a, log = _rig()
    a.set_condition(al.A_BATTERY_ERI, True, T0)
    a.set_condition(al.A_OCCLUSION_SENSING_UNAVAILABLE, True, T0)  # low too, but not repeated
    assert a.acknowledge(T0 + 1000) == 2
    due = ticks_add(T0 + 1000, al.REPEAT_MS)
    assert a.next_deadline(T0 + 1000) == due
    assert a.sounding(ticks_add(due, -1)) == 0
    assert a.sounding(due) == al.A_BATTERY_ERI
    assert a.advance(due) and not a.is_acknowledged(al.A_BATTERY_ERI)
    assert a.next_deadline(due) is None
    assert a.acknowledge(due) == 1  # acknowledged again; the other one stays acknowledged
    assert a.next_deadline(due) == ticks_add(due, al.REPEAT_MS)
    a.set_condition(al.A_BATTERY_ERI, False, ticks_add(due, 5))  # battery replaced: gone, acknowledged: cleared
    assert not a.is_active(al.A_BATTERY_ERI) and a.next_deadline(due) is None
    assert log.count((ev.ALARM_RAISED, al.A_BATTERY_ERI)) == 1  # a repeat is not a new occurrence


def test_next_deadline_takes_the_earliest():
    a, _ = _rig()
    a.set_condition(al.A_BATTERY_ERI, True, T0)
    a.acknowledge(T0)
    a.set_condition(al.A_OCCLUSION, True, T0 + 10)
    a.silence(T0 + 10, 1000)
    assert a.next_deadline(T0 + 10) == T0 + 1010
    a.advance(T0 + 1010)
    assert a.next_deadline(T0 + 1010) == ticks_add(T0, al.REPEAT_MS)


def test_patterns_are_distinct_per_priority():
    pulses = {}
    for prio, pat in al.PATTERN.items():
        assert len(pat) % 2 == 0 and all(type(x) is int and x > 0 for x in pat)
        burst = sum(pat[:-1])
        assert burst < pat[-1]
        pulses[prio] = len(pat) // 2
    assert pulses == {al.PRIO_HIGH: 5, al.PRIO_MEDIUM: 3, al.PRIO_LOW: 2}
    assert [al.PATTERN[p][-1] for p in (al.PRIO_HIGH, al.PRIO_MEDIUM, al.PRIO_LOW)] == [10000, 20000, 60000]
    assert al.pattern(al.A_OCCLUSION) is al.PATTERN[al.PRIO_HIGH]
    assert al.pattern(al.A_BATTERY_ERI) is al.PATTERN[al.PRIO_LOW]
    assert al.pattern(0) is None and al.pattern(99) is None


def test_tone_at_walks_the_pattern():
    pat = al.PATTERN[al.PRIO_MEDIUM]  # 200 on, 200 off, 200 on, 200 off, 200 on, then silence to 20 s
    assert al.tone_at(pat, 0) == (True, 200)
    assert al.tone_at(pat, 199) == (True, 1)
    assert al.tone_at(pat, 200) == (False, 200)
    assert al.tone_at(pat, 850) == (True, 150)
    assert al.tone_at(pat, 1000) == (False, 19000)
    assert al.tone_at(pat, 20000 + 450) == (True, 150)
    on_ms = 0
    t = 0
    while t < 60000:  # three periods: 3 x 600 ms of tone
        on, left = al.tone_at(pat, t)
        if on:
            on_ms += left
        t += left
    assert on_ms == 1800


def test_per_step_calls_allocate_nothing():
    mp = micropython_or_skip()
    a, _ = _rig()
    a.set_condition(al.A_OCCLUSION, True, T0)
    a.set_condition(al.A_BATTERY_ERI, True, T0)
    a.acknowledge(T0, al.A_BATTERY_ERI)
    a.silence(T0, 1000)
    found = 0
    mp.heap_lock()
    try:
        for i in range(200):
            now = ticks_add(T0, i * 100)
            a.set_condition(al.A_OCCLUSION, i % 3 != 0, now)  # active: present / gone, unacknowledged
            a.set_condition(al.A_RESERVOIR_EMPTY, False, now)  # absent condition
            a.set_condition(al.A_BATTERY_ERI, True, now)
            if a.is_active(al.A_OCCLUSION) and a.sounding(now) == al.A_OCCLUSION:
                found += 1
            a.highest()
    finally:
        mp.heap_unlock()
    assert found == 190  # sounding again once the 1 s silence is over (i >= 10)


# ---- the buzzer and LED roles -----------------------------------------------------------------------------------


class _FakePwm:
    def __init__(self, log):
        self.log = log

    def freq(self, hz):
        self.log.append(("freq", hz))

    def duty_u16(self, d):
        self.log.append(("duty", d))


def test_pwm_buzzer_builds_its_pwm_on_the_first_tone():
    log = []
    made = []

    def make_pwm():
        made.append(1)
        return _FakePwm(log)

    bz = drivers.PwmBuzzer(make_pwm)
    bz.off()  # before any tone: nothing to touch
    assert made == [] and log == []
    bz.tone(al.TONE_HZ)
    bz.tone(440)
    bz.off()
    bz.tone(0)
    assert made == [1]
    assert log == [("freq", 880), ("duty", 32768), ("freq", 440), ("duty", 32768), ("duty", 0), ("duty", 0)]
    assert bz.freq_hz == 0
    for bad in (-1, 20001, 1.5, "880"):
        with raises(PumpError) as e:
            bz.tone(bad)
        assert e.value.detail == "freq_hz"


def test_pwm_buzzer_off_never_raises():
    class Broken(_FakePwm):
        def duty_u16(self, d):
            raise OSError(5)

    bz = drivers.PwmBuzzer(lambda: Broken([]))
    with raises(OSError):
        bz.tone(880)
    bz.off()
    assert bz.freq_hz == 0


def test_pin_led():
    class Pin:
        level = None

        def value(self, v=None):
            self.level = v

    p = Pin()
    led = drivers.PinLed(p)
    assert p.level == 0 and not led.lit
    led.on()
    assert p.level == 1 and led.lit
    led.off()
    assert p.level == 0 and not led.lit


def test_sim_buzzer_and_led_record_changes():
    clock = VirtualClock()
    bz = SimBuzzer(clock, keep=3)
    bz.tone(880)
    clock.t_ms = 150
    bz.tone(880)  # no change
    bz.off()
    clock.t_ms = 250
    bz.tone(880)
    clock.t_ms = 400
    bz.tone(0)
    assert bz.changes == [(150, 0), (250, 880), (400, 0)]  # the oldest change dropped
    assert bz.tones == 2
    with raises(ValueError):
        bz.tone(-1)
    led = SimLed()
    led.on()
    led.on()
    led.off()
    assert led.changes == 2 and not led.lit


def test_the_last_codes_behave_like_the_first():
    # STORE_CORRUPT (13) and TASK_FAULT (12) are the table's last entries: every scan must reach them
    a, log = _rig()
    assert a.set_condition(al.A_STORE_CORRUPT, True, T0)
    assert a.is_active(al.A_STORE_CORRUPT) and a.highest() == al.A_STORE_CORRUPT
    assert a.silence(T0, 1000) == 1000 and a.sounding(T0) == 0
    assert a.acknowledge(T0 + 1, al.A_STORE_CORRUPT) == 1 and a.is_acknowledged(al.A_STORE_CORRUPT)
    assert a.set_condition(al.A_STORE_CORRUPT, False, T0 + 2)  # acknowledged, condition gone: cleared
    assert a.active_bitmap == 0 and not a.is_active(al.A_STORE_CORRUPT)
    a.set_condition(al.A_TASK_FAULT, True, T0 + 3)
    assert a.active_bitmap == 1 << 11 and a.highest() == al.A_TASK_FAULT
    a.acknowledge(T0 + 4)
    assert a.set_condition(al.A_TASK_FAULT, False, T0 + 5) and a.active_bitmap == 0
    assert log[-1] == (ev.ALARM_CLEARED, al.A_TASK_FAULT)


def test_is_active_and_is_acknowledged_out_of_the_table():
    a, _ = _rig()
    a.set_condition(al.A_OCCLUSION, True, T0)
    a.acknowledge(T0)
    assert a.is_acknowledged(al.A_OCCLUSION)
    for code in (0, -1, UNKNOWN, 99):
        assert not a.is_active(code) and not a.is_acknowledged(code)


def test_a_condition_back_before_the_acknowledgement_keeps_the_alarm():
    a, _ = _rig()
    a.set_condition(al.A_OCCLUSION, True, T0)
    a.set_condition(al.A_OCCLUSION, False, T0 + 1)  # gone, latched
    a.set_condition(al.A_OCCLUSION, True, T0 + 2)  # back
    assert a.acknowledge(T0 + 3) == 1
    assert a.is_active(al.A_OCCLUSION)  # present again: the acknowledgement does not clear it
    assert a.set_condition(al.A_OCCLUSION, False, T0 + 4)  # gone and acknowledged: cleared
    assert not a.is_active(al.A_OCCLUSION)


def test_an_absent_condition_of_an_inactive_alarm_changes_nothing():
    a, log = _rig()
    assert not a.set_condition(al.A_RESERVOIR_LOW, False, T0)
    assert log == [] and a.active_bitmap == 0


def test_an_alarm_raised_during_a_silence_sounds_whatever_its_code():
    a, _ = _rig()
    a.set_condition(al.A_OCCLUSION, True, T0)
    a.silence(T0, 60000)
    a.set_condition(al.A_STORE_CORRUPT, True, T0 + 1)
    assert a.sounding(T0 + 2) == al.A_STORE_CORRUPT  # the silenced high alarm does not hide it


def test_the_shortest_silence_and_a_zero_silence():
    a, _ = _rig()
    a.set_condition(al.A_OCCLUSION, True, T0)
    assert a.silence(T0, 1) == 1
    assert a.sounding(T0) == 0 and a.sounding(T0 + 1) == al.A_OCCLUSION
    assert a.silence(T0 + 1, 0) == 0
    assert a.next_deadline(T0 + 1) is None  # no silence, so nothing ends


def test_acknowledging_during_a_silence():
    a, _ = _rig()
    a.set_condition(al.A_OCCLUSION, True, T0)
    a.set_condition(al.A_RESERVOIR_LOW, True, T0)
    a.silence(T0, 1000)
    assert a.acknowledge(T0 + 10, al.A_OCCLUSION) == 1
    assert a.sounding(T0 + 999) == 0
    assert a.sounding(T0 + 1000) == al.A_RESERVOIR_LOW  # the silence ended; the acknowledged one stays quiet
    assert a.acknowledge(T0 + 2000) == 1 and a.sounding(T0 + 2000) == 0


def test_advance_reports_no_change_for_an_unacknowledged_alarm():
    a, _ = _rig()
    a.set_condition(al.A_BATTERY_ERI, True, 5)
    assert not a.advance(al.REPEAT_MS + 10)  # a day on, never acknowledged: nothing to repeat
    assert a.sounding(al.REPEAT_MS + 10) == al.A_BATTERY_ERI


def test_acknowledge_range_and_error():
    a, _ = _rig()
    for code in (-1, UNKNOWN):
        with raises(PumpError) as e:
            a.acknowledge(T0, code)
        assert (e.value.code, e.value.detail) == (E_RANGE, "code")
    with raises(PumpError) as e:
        a.silence(T0, None)
    assert (e.value.code, e.value.detail) == (E_RANGE, "ms")
