"""Safety supervisor on fake roles: each check's alarm (raised at its time), holds and what releases them, the
sensors' plausibility settings, the 24 h over-delivery window, battery thresholds from the program, stall inputs."""

from pump import alarms as al
from pump.battery import STATE_ERI, max_steps_per_day, thresholds
from pump.compat import TICKS_MASK, ticks_add
from pump.occlusion import OCCLUDED
from pump.overdelivery import allowed_steps
from pump.safety import Safety
from pump.sensorfault import FAULT_NOISY, FAULT_NONE, FAULT_OPEN, FAULT_OUT_OF_RANGE, FAULT_STUCK

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

T0 = TICKS_MASK - 600000  # ten minutes before the ticks wrap
HOUR_MS = 3600000
DAY_MS = 86400000
NL = 200


class _Pressure:
    def __init__(self, kpa_x10=40):
        self.kpa_x10 = kpa_x10
        self.reads = 0

    def read_kpa_x10(self):
        self.reads += 1
        return self.kpa_x10


class _Battery:
    def __init__(self, mv=3000):
        self.mv = mv
        self.reads = 0

    def read_mv(self):
        self.reads += 1
        return self.mv


class _Stepper:
    def __init__(self):
        self.reversed = 0
        self.disables = 0

    def step_reverse(self, n):
        self.reversed += n

    def disable(self):
        self.disables += 1


class _Encoder:
    counts_per_step = 2

    def __init__(self, start=0):
        self.counts = start

    def count(self):
        return self.counts

    def move(self, steps):
        self.counts = (self.counts + steps * self.counts_per_step) & TICKS_MASK


class _Diag:
    def __init__(self):
        self.fired = False

    def triggered(self):
        fired, self.fired = self.fired, False
        return fired


class _Hw:
    """The roles Safety reads, every one defined as on a board (None where absent)."""

    def __init__(self, pressure=True, encoder=None, diag=None):
        self.pressure = _Pressure() if pressure else None
        self.battery = _Battery()
        self.stepper = _Stepper()
        self.encoder = encoder
        self.stall = diag


def _safety(hw=None, now=T0):
    hw = hw or _Hw()
    log = []
    return Safety(hw, NL, lambda e, c: log.append((e, c)), now), hw


def _settle(s, hw, now=T0, n=40, doses=True):
    """Open-line bursts: the residual and the peak (one step of 1.25 kPa) alternate; returns the time after."""
    for i in range(n):
        now = ticks_add(now, 1000)
        hw.pressure.kpa_x10 = 40 + (i % 3)
        assert s.before_burst(now) == doses
        hw.pressure.kpa_x10 += 12
        s.stepped(now, 1)
    return now


def _since(s, code):
    return s.alarms.since_ms[code] if s.alarms.is_active(code) else None


# ---- sensing available or not ----


def test_a_board_without_a_pressure_sensor_says_so_and_still_doses():
    s, hw = _safety(_Hw(pressure=False), now=T0 + 5)
    assert _since(s, al.A_OCCLUSION_SENSING_UNAVAILABLE) == T0 + 5
    assert s.before_burst(T0 + 10) and s.holding == 0
    s.stepped(T0 + 10, 3)
    s, hw = _safety()
    assert not s.alarms.is_active(al.A_OCCLUSION_SENSING_UNAVAILABLE)


# ---- pressure sensor ----


def _sensor_fails(s, hw, now, reading=0):
    hw.pressure.kpa_x10 = reading
    assert s.before_burst(ticks_add(now, 1)) == (s.holding == 0)  # one rail reading is no fault yet
    assert not s.before_burst(ticks_add(now, 2))
    return ticks_add(now, 2)


def test_an_open_pressure_line_stops_dosing_until_the_sensor_reads_again():
    s, hw = _safety()
    now = _settle(s, hw)
    t = _sensor_fails(s, hw, now)
    assert s.pressure_check.fault == FAULT_OPEN
    assert _since(s, al.A_PRESSURE_SENSOR_FAULT) == t and s.holding
    assert s.release_holds(ticks_add(t, 1)) and not s.before_burst(ticks_add(t, 2))  # still a rail: the hold stays
    for edge in (1, 999):  # the sensor's lowest and highest plausible readings release it
        s, hw = _safety()
        t = _sensor_fails(s, hw, _settle(s, hw), 1000)
        hw.pressure.kpa_x10 = edge
        assert s.release_holds(ticks_add(t, 1)) == 0
        s.alarms.acknowledge(ticks_add(t, 1))
        assert not s.alarms.is_active(al.A_PRESSURE_SENSOR_FAULT)
        assert not s.occlusion.settled  # a new baseline from the serviced sensor


def test_pressure_sensor_settings():
    s, hw = _safety()
    check = s.pressure_check
    assert [check.sample(1, False) for _ in range(3)] == [FAULT_NONE] * 3  # 0.1 kPa is a plausible reading
    check.reset()
    assert [check.sample(1000, False) for _ in range(2)] == [FAULT_NONE, FAULT_OPEN]  # the 100 kPa rail
    check.reset()
    got = [check.sample(500, True) for _ in range(32)]
    assert got == [FAULT_NONE] * 31 + [FAULT_STUCK]  # 32 identical readings while stepping
    assert [check.sample(501 + i % 2, False) for i in range(4)] == [FAULT_STUCK] * 3 + [FAULT_NONE]  # 4 good ones
    check.reset()
    v, got = 500, []
    for i in range(40):  # residuals jumping by 9 and 8 counts: posture and waves between bursts, not noise
        v += 8 if i % 2 else -9
        got.append(check.sample(v, False))
    assert FAULT_NOISY not in got
    check.reset()
    jump, got = 12, []
    for i in range(20):  # the jump of each burst changes by 9 and 8 counts: 8.5 on average, above 0.8 kPa
        jump += (9 if i % 2 else -8) if i else 0
        got.append(check.pair(v, v + jump, 1))
    assert got.index(FAULT_NOISY) == 16  # the 16th change: the window's 16 changes add up to more than 16 x 8


# ---- occlusion ----


def _occlude(s, hw, now):
    """A blocked line: every step stays; returns (time of the alarm, steps delivered)."""
    p = hw.pressure.kpa_x10
    for i in range(100):
        now = ticks_add(now, 1000)
        hw.pressure.kpa_x10 = p
        if not s.before_burst(now):
            return now, i
        p += 12
        hw.pressure.kpa_x10 = p
        s.stepped(now, 1)
    raise AssertionError("no occlusion alarm")


def test_an_occlusion_stops_backs_off_and_holds_until_the_pressure_is_back():
    s, hw = _safety()
    now = _settle(s, hw)
    t, steps = _occlude(s, hw, now)
    assert s.occlusion.state == OCCLUDED and _since(s, al.A_OCCLUSION) == t
    assert abs(hw.stepper.reversed - steps) <= 1  # backed off what the line holds
    assert not s.before_burst(ticks_add(t, 1000))
    assert s.release_holds(ticks_add(t, 2000))  # still high: refused
    assert s.holding and s.occlusion.state == OCCLUDED
    assert s.pressure_check._pair_ok  # the occluded bursts' pairs are in the noise check
    hw.pressure.kpa_x10 = 41
    assert s.release_holds(ticks_add(t, 3000)) == 0
    # the occluded rise and the back-off are not sensor noise: the pressure check starts afresh, so the first burst
    # after the resume is compared with nothing
    assert not s.pressure_check._pair_ok and s.pressure_check._sum == 0
    assert s.before_burst(ticks_add(t, 4000))


# ---- holds ----


def test_holds_are_released_one_by_one_and_only_their_own():
    enc = _Encoder()
    s, hw = _safety(_Hw(encoder=enc))
    now = _settle(s, hw, n=8)  # the encoder never moved: that is a stall already
    assert _since(s, al.A_MOTOR_STALL) == ticks_add(T0, 8000)
    now = _settle(s, hw, now, doses=False)  # held: the pressure is still read before each (refused) burst
    _sensor_fails(s, hw, now)  # the pressure sensor fails too
    stall_bit, sensor_bit = 1 << (al.A_MOTOR_STALL - 1), 1 << (al.A_PRESSURE_SENSOR_FAULT - 1)
    assert s.holding == stall_bit | sensor_bit
    assert s.release_holds(now + 3) == sensor_bit  # the stall was checked; the sensor still reads a rail
    s.alarms.acknowledge(now + 3, al.A_MOTOR_STALL)
    assert not s.alarms.is_active(al.A_MOTOR_STALL)  # its condition went with the release
    hw.pressure.kpa_x10 = 41
    assert s.release_holds(now + 4) == 0


def test_a_resume_for_one_hold_leaves_the_other_checks_alone():
    enc = _Encoder()
    s, hw = _safety(_Hw(encoder=enc))
    s.set_program_limits(1000000, 1000000, 0, 5000)
    now = T0
    for i in range(40):
        now = ticks_add(now, 1000)
        hw.pressure.kpa_x10 = 40 + (i % 3)
        s.before_burst(now)
        hw.pressure.kpa_x10 += 12
        enc.move(1)
        s.stepped(now, 1)
    assert s.holding == 0 and s.occlusion.settled
    counted = s.day_window.total
    s.stall.diag()
    s.stepped(now, 0)
    assert s.holding == 1 << (al.A_MOTOR_STALL - 1)
    samples = s.occlusion.samples
    reads = hw.battery.reads
    assert s.release_holds(ticks_add(now, 1)) == 0
    assert hw.battery.reads == reads  # no end-of-service hold: the battery is not read (nor its checks fed)
    assert s.day_window.total == counted  # the over-delivery window keeps its steps
    assert s.occlusion.settled and s.occlusion.samples == samples  # the occlusion baseline is kept


# ---- over-delivery ----


def test_over_delivery_in_24_hours_disables_the_driver_and_holds():
    s, hw = _safety()
    # 1 mL/day at 200 nL per step: 5000 steps a day; the hour's bound set as wide as the day's, out of the way
    s.set_program_limits(1000000, 24 * 1000000, 0, 5000)
    limit = allowed_steps(1000000, NL, DAY_MS)
    assert s.day_window.limit == limit
    s.stepped(T0, limit)
    assert not s.alarms.is_active(al.A_OVER_DELIVERY)
    t = ticks_add(T0, 23 * HOUR_MS + 45 * 60000)  # still inside the 24 h since the pump started
    s.stepped(t, 1)
    assert _since(s, al.A_OVER_DELIVERY) == t and hw.stepper.disables == 1
    assert not s.before_burst(ticks_add(t, 1))
    assert s.release_holds(ticks_add(t, 2)) == 0  # released by the clinician: the window starts empty
    assert s.day_window.total == 0 and not s.day_window.breached
    s.stepped(ticks_add(t, 3), limit)  # a whole day's allowance again: counted from empty, no breach
    assert s.holding == 0


def test_steps_leave_the_window_24_hours_after_they_were_counted():
    for later, breach in ((DAY_MS - 1000, True), (DAY_MS, False)):
        s, hw = _safety(now=1800000)  # the pump started at ticks 30 min: the window's hours start there
        s.set_program_limits(1000000, 24 * 1000000, 0, 5000)
        s.stepped(1800000, s.day_window.limit)
        s.stepped(1800000 + later, 1)
        assert s.alarms.is_active(al.A_OVER_DELIVERY) == breach


def test_the_day_limit_is_the_allowance_of_exactly_24_hours():
    s, hw = _safety()
    # a rate whose allowance one more ms of window would raise by a step
    s.set_program_limits(1035788, 1035788, 0, 5000)
    assert s.day_window.limit == allowed_steps(1035788, NL, DAY_MS) == allowed_steps(1035788, NL, DAY_MS + 1) - 1


def test_no_program_allows_no_steps_beyond_a_grant_and_absurd_limits_are_capped():
    s, hw = _safety()
    s.set_program_limits(0, 0, 0, 0)
    s.grant_steps(50)  # a priming
    s.stepped(T0, 51)
    assert not s.alarms.is_active(al.A_OVER_DELIVERY)
    s.stepped(T0, 1)  # one step more than the grant and the rounding step
    assert s.alarms.is_active(al.A_OVER_DELIVERY)
    s.set_program_limits(10 ** 15, 10 ** 15, 0, 0)  # far more than a small int of steps: capped, not refused
    assert s.day_window.limit == 0x3FFFFFFF and s.hour_window.limit == 0x3FFFFFFF


def test_battery_thresholds_follow_the_program():
    s, hw = _safety()
    assert (s.battery.eri_mv, s.battery.eos_mv) == thresholds(0)
    s.set_program_limits(1000000, 1000000, 0, 20000)
    assert (s.battery.eri_mv, s.battery.eos_mv) == thresholds(20000)
    assert not s.battery_short
    # no 90-day warning possible at this rate: the earliest warning the cell can give, and said so (the previous
    # thresholds were kept silently, a rest-rate ERI that would come far too late for it)
    s.set_program_limits(1000000, 1000000, 0, 10 ** 9)
    assert (s.battery.eri_mv, s.battery.eos_mv) == thresholds(max_steps_per_day()) and s.battery_short
    s.set_program_limits(1000000, 1000000, 0, 20000)
    assert (s.battery.eri_mv, s.battery.eos_mv) == thresholds(20000) and not s.battery_short


# ---- battery ----


def _hourly(s, hw, readings, now=T0):
    for mv in readings:
        hw.battery.mv = mv
        due = s.sample(now, False, False)
        assert due == ticks_add(now, HOUR_MS)
        now = due
    return now


def test_battery_is_read_hourly_and_its_alarms_carry_their_time():
    s, hw = _safety()
    assert s.sample(T0, False, False) == ticks_add(T0, HOUR_MS) and hw.battery.reads == 1
    assert s.sample(ticks_add(T0, 1000), False, False) == ticks_add(T0, HOUR_MS) and hw.battery.reads == 1
    eri, eos = thresholds(0)
    now = _hourly(s, hw, [eri] * 3, ticks_add(T0, HOUR_MS))
    assert s.battery.state == STATE_ERI and _since(s, al.A_BATTERY_ERI) == ticks_add(T0, 3 * HOUR_MS)
    assert s.battery.changed_ms == ticks_add(T0, 3 * HOUR_MS)
    now = _hourly(s, hw, [eos] * 3, now)
    assert _since(s, al.A_BATTERY_EOS) == ticks_add(T0, 6 * HOUR_MS) and hw.stepper.disables == 1
    assert s.holding and not s.before_burst(now)


def test_battery_sensor_settings():
    s, hw = _safety()
    now = _hourly(s, hw, [3000] * 63)  # 63 identical hourly readings: not yet "stuck" (64 are, test_battery)
    assert not s.alarms.is_active(al.A_BATTERY_SENSOR_FAULT)
    for edge in (1500, 4500):  # the plausible range's ends
        s, hw = _safety()
        _hourly(s, hw, [edge] * 4)
        assert s.battery_check.fault == FAULT_NONE
    for bad, fault in ((1499, FAULT_OUT_OF_RANGE), (4501, FAULT_OUT_OF_RANGE), (200, FAULT_OPEN), (4900, FAULT_OPEN),
                       (201, FAULT_OUT_OF_RANGE)):
        s, hw = _safety()
        now = _hourly(s, hw, [3000, 3000, bad, bad])
        assert s.battery_check.fault == fault and _since(s, al.A_BATTERY_SENSOR_FAULT) == ticks_add(T0, 3 * HOUR_MS)
        now = _hourly(s, hw, [3000] * 4, now)  # 4 good readings clear it
        assert s.battery_check.fault == FAULT_NONE
        s.alarms.acknowledge(now)
        assert not s.alarms.is_active(al.A_BATTERY_SENSOR_FAULT)
    s, hw = _safety()
    _hourly(s, hw, [3000 + (81 if i % 2 else 0) for i in range(12)])
    assert s.battery_check.fault == FAULT_NOISY  # mean jump above 80 mV
    s, hw = _safety()
    _hourly(s, hw, [3000 + (80 if i % 2 else 0) for i in range(40)])
    assert s.battery_check.fault == FAULT_NONE  # exactly 80 mV is not
    s, hw = _safety()
    got = []
    for i in range(12):
        _hourly(s, hw, [3000 + (100 if i % 2 else 0)], ticks_add(T0, i * HOUR_MS))
        got.append(s.battery_check.fault)
    assert got.index(FAULT_NOISY) == 8  # 100 mV jumps: the 8th difference is above 9 x 80 mV


# ---- reservoir ----


def test_reservoir_alarms_and_the_refill():
    s, hw = _safety()
    s.refilled(T0 + 3, True, False)  # a refill that leaves the reservoir low raises the alarm then and there
    assert _since(s, al.A_RESERVOIR_LOW) == T0 + 3
    s, hw = _safety()
    s.sample(T0, True, False)
    assert _since(s, al.A_RESERVOIR_LOW) == T0
    s.sample(ticks_add(T0, 10), True, True)
    assert _since(s, al.A_RESERVOIR_EMPTY) == ticks_add(T0, 10)
    now = _settle(s, hw, ticks_add(T0, 20))
    t, _ = _occlude(s, hw, now)  # an occlusion meanwhile: a refill must not acknowledge it
    s.alarms.silence(t, 60000)  # and a silence is running
    s.refilled(ticks_add(t, 1), True, False)  # refilled, but not enough to leave "low"
    assert not s.alarms.is_active(al.A_RESERVOIR_EMPTY)
    assert s.alarms.is_active(al.A_RESERVOIR_LOW) and not s.alarms.is_acknowledged(al.A_RESERVOIR_LOW)
    assert s.alarms.is_active(al.A_OCCLUSION) and not s.alarms.is_acknowledged(al.A_OCCLUSION)
    s.alarms.acknowledge(ticks_add(t, 2), al.A_RESERVOIR_LOW)
    assert s.alarms.is_active(al.A_RESERVOIR_LOW)  # its condition is still there


# ---- motor stall ----


def test_a_jam_is_seen_by_the_encoder_wherever_its_count_starts():
    for start in (1000, TICKS_MASK - 3):  # not zero, and about to wrap
        enc = _Encoder(start)
        s, hw = _safety(_Hw(pressure=False, encoder=enc))
        for i in range(20):
            enc.move(1)
            s.stepped(ticks_add(T0, i), 1)
        assert not s.alarms.is_active(al.A_MOTOR_STALL)
        for i in range(12):
            s.stepped(ticks_add(T0, 100 + i), 1)  # jammed: the encoder stands still
        assert _since(s, al.A_MOTOR_STALL) is not None and s.holding
    enc = _Encoder(1000)
    s, hw = _safety(_Hw(pressure=False, encoder=enc))
    for i in range(12):
        s.stepped(ticks_add(T0, i), 1)  # jammed from the first step
    assert s.alarms.is_active(al.A_MOTOR_STALL)


def test_the_driver_diag_latches_a_stall_at_once():
    diag = _Diag()
    s, hw = _safety(_Hw(pressure=False, encoder=_Encoder(), diag=diag))
    diag.fired = True
    s.stepped(T0 + 7, 0)
    assert _since(s, al.A_MOTOR_STALL) == T0 + 7



def test_the_driver_diag_alone_catches_a_jam_without_an_encoder():
    # a TMC2209 DIAG wired and no encoder (README, docs/setup.md): the DIAG edge latches the stall and holds dosing;
    # without one, steps go on and nothing is judged from counts that do not exist
    s, hw = _safety(_Hw(pressure=False, diag=_Diag()))
    for i in range(500):
        s.stepped(ticks_add(T0, i), 1)
    assert not s.alarms.is_active(al.A_MOTOR_STALL) and not s.holding
    hw.stall.fired = True
    s.stepped(ticks_add(T0, 500), 1)
    assert _since(s, al.A_MOTOR_STALL) == ticks_add(T0, 500)
    assert s.holding == 1 << (al.A_MOTOR_STALL - 1)
    assert s.release_holds(ticks_add(T0, 501)) == 0  # the mechanism was checked: the next jam is seen again
    hw.stall.fired = True
    s.stepped(ticks_add(T0, 502), 1)
    assert s.holding == 1 << (al.A_MOTOR_STALL - 1)


def test_a_resume_keeps_the_sensor_history_and_a_jam_in_progress():
    enc = _Encoder()
    s, hw = _safety(_Hw(encoder=enc))
    now = T0
    for _ in range(24):  # three healthy 8-step windows; the pressure sensor repeats itself all along
        now = ticks_add(now, 1000)
        hw.pressure.kpa_x10 = 40
        s.before_burst(now)
        enc.move(1)
        s.stepped(now, 1)
    for _ in range(7):  # then the mechanism jams: 7 steps of the next window (31 identical readings by now)
        now = ticks_add(now, 1000)
        s.before_burst(now)
        s.stepped(now, 1)
    s.day_window.set_limit(0)
    s.stepped(now, 0)  # an over-delivery hold meanwhile
    assert s.holding == 1 << (al.A_OVER_DELIVERY - 1)
    assert s.release_holds(ticks_add(now, 1)) == 0
    now = ticks_add(now, 1000)
    s.stepped(now, 1)  # the 8th jammed step completes the window started before the resume
    assert s.alarms.is_active(al.A_MOTOR_STALL)
    got = []
    for _ in range(12):
        now = ticks_add(now, 1000)
        s.before_burst(now)
        got.append(s.pressure_check.fault)
    assert got[0] == FAULT_STUCK  # the 32nd identical reading: the run from before the resume counts


def test_the_hour_limit_adds_the_periodic_boluses_rounded_up_to_whole_steps():
    s, hw = _safety()
    s.set_program_limits(1000000, 1000000, 1001, 5000)  # 1001 nL of periodic boluses: 6 steps of 200 nL
    assert s.hour_window.limit == allowed_steps(1000000, NL, HOUR_MS) + 6


def test_steps_leave_the_hour_window_an_hour_after_their_slot_started():
    start = 1900000  # the pump started at ticks 31 min 40 s: the window's 5-min slots start there
    first = start + 150000  # steps counted 2.5 min into the first slot
    for t, breach in ((start + HOUR_MS - 1, True), (start + HOUR_MS, False)):
        s, hw = _safety(now=start)
        s.set_program_limits(24 * 1000000, 24 * 1000000, 0, 5000)
        s.stepped(first, s.hour_window.limit)
        s.stepped(t, 1)
        assert s.alarms.is_active(al.A_OVER_DELIVERY) == breach, t


def test_a_battery_reading_stuck_for_64_hours_is_a_sensor_fault():
    s, hw = _safety()
    assert s.battery_mv == 0  # telemetry: no reading yet
    _hourly(s, hw, [3000] * 64)
    assert s.battery_mv == 3000
    assert s.battery_check.fault == FAULT_STUCK and s.alarms.is_active(al.A_BATTERY_SENSOR_FAULT)


def test_the_last_pressure_reading_is_kept_for_the_status():
    s, hw = _safety()
    assert s.last_p == 0  # telemetry's pressure before the first burst
    _settle(s, hw, n=3)  # residuals 40, 41, 42 (each peak 12 above is read after the steps)
    assert s.last_p == 42


def _eos(s, hw):
    """Hourly readings down to end of service; returns the time after them."""
    eri, eos = thresholds(0)
    now = _hourly(s, hw, [eri] * 3 + [eos] * 3)
    assert s.holding == 1 << (al.A_BATTERY_EOS - 1)
    return now


def test_end_of_service_is_released_only_by_a_working_sensor_reading_above_eri():
    s, hw = _safety()
    now = _eos(s, hw)
    hw.battery.mv = s.battery.eri_mv  # at ERI: not a fresh cell
    assert s.release_holds(now) and s.alarms.is_active(al.A_BATTERY_EOS)
    hw.battery.mv = s.battery.eri_mv + 1
    assert s.release_holds(now) == 0
    # a sensor stuck at a plausible value: its 64th identical reading, the resume's, is a fault and releases nothing
    s, hw = _safety()
    now = _eos(s, hw)
    now = _hourly(s, hw, [s.battery.eri_mv + 100] * 63, now)  # end of service stays: it is final for the cell
    assert s.holding and s.battery_check.fault == FAULT_NONE
    assert s.release_holds(now) and s.battery_check.fault == FAULT_STUCK


def test_a_reset_keeps_the_holds_and_the_unacknowledged_fault_alarms():
    s, hw = _safety()
    now, _ = _occlude(s, hw, _settle(s, hw))
    s.latch(al.A_WATCHDOG_RESET, now)
    latched, (base, jump) = s.latched(), s.occlusion.saved()
    t = ticks_add(now, 5000)  # the reset: a new supervisor on the same board
    r, _ = _safety(hw, now=t)
    r.restore(latched, base, jump, t)
    assert r.holding == s.holding == 1 << (al.A_OCCLUSION - 1)
    assert _since(r, al.A_OCCLUSION) == t and _since(r, al.A_WATCHDOG_RESET) == t  # raised again at the restore
    assert r.occlusion.saved() == (base, jump) and r.occlusion.settled  # the resume is judged as before the reset
    r.alarms.acknowledge(t, al.A_WATCHDOG_RESET)
    assert not r.alarms.is_active(al.A_WATCHDOG_RESET)  # an event: acknowledged, it is gone
    # without an occlusion hold the detector settles afresh, whatever was saved
    q, _ = _safety(hw, now=t)
    q.restore(1 << (al.A_WATCHDOG_RESET - 1), base, jump, t)
    assert q.holding == 0 and _since(q, al.A_WATCHDOG_RESET) == t and not q.occlusion.settled


def test_a_faulty_pressure_reading_goes_no_further_than_the_sensor_check():
    s, hw = _safety()
    hw.pressure.kpa_x10 = 0
    assert s.before_burst(ticks_add(T0, 1))  # one rail reading is no fault yet
    samples = s.occlusion.samples
    assert not s.before_burst(ticks_add(T0, 2))  # the second is: the occlusion detector does not see it
    assert s.occlusion.samples == samples


def test_burst_pairs_are_compared_per_burst_size_and_a_noisy_one_raises_at_its_time():
    s, hw = _safety()
    now = T0
    for i in range(40):  # bursts of 1 and 3 steps in turn: jumps of 12 and 36 counts are no noise
        now = ticks_add(now, 1000)
        n = 1 if i % 2 else 3
        hw.pressure.kpa_x10 = 40 + i % 3
        assert s.before_burst(now)
        hw.pressure.kpa_x10 = 40 + i % 3 + 12 * n
        s.stepped(now, n)
    assert not s.alarms.is_active(al.A_PRESSURE_SENSOR_FAULT)
    jump = 12
    for i in range(20):  # the jump of one-step bursts changing by 9 and 8 counts: noise, at the 16th change
        now = ticks_add(now, 1000)
        jump += 9 if i % 2 else -8
        hw.pressure.kpa_x10 = 40 + i % 3
        if not s.before_burst(now):
            break
        hw.pressure.kpa_x10 = 40 + i % 3 + jump
        s.stepped(now, 1)
    assert _since(s, al.A_PRESSURE_SENSOR_FAULT) == ticks_add(now, -1000)  # raised at the noisy burst
