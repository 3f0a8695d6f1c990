"""Battery model and thresholds: the numbers of docs/battery.md, the 90-day guarantee re-derived by discharging the
model cell, the library's worst case, and the OK -> ERI -> EOS monitor (debounce, hysteresis, EOS final)."""

from board.sim.clock import VirtualClock
from board.sim.plant import Plant
from board.sim.roles import SimBattery
from pump import battery as b
from pump.druglib import DrugLibrary
from pump.errors import E_RANGE, PumpError
from support import raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_ERR = b.READING_ERR_PPM


def _root():
    here = __file__
    for _ in range(3):
        here = here[: here.rfind("/")] if "/" in here else "."
    return here


def _int(cell):
    return int(cell.replace(",", "").replace(" ", ""))


def test_curve_is_monotonic_and_dod_at_inverts_mv_at():
    for (d0, v0), (d1, v1) in zip(b.CURVE, b.CURVE[1:]):
        assert d0 < d1 and v0 > v1
    assert b.mv_at(-5) == 3150 and b.mv_at(2000000) == 2000
    assert b.dod_at(4000) == 0 and b.dod_at(1000) == 1000000
    for dod in range(0, 1000001, 2500):
        mv = b.mv_at(dod)
        d = b.dod_at(mv)
        assert d <= dod and b.mv_at(d) == mv  # the smallest DoD with that voltage
        assert b.mv_at(d - 1) > mv or d == 0


def test_daily_consumption():
    assert b.FIXED_UAH_PER_DAY == 1620
    assert b.daily_uah(0) == 1620
    assert b.daily_uah(5000) == 2620
    assert b.daily_uah(1) == 1621  # rounded up


def _discharge_days(steps_per_day, eri_mv, eos_mv, capacity=b.CAPACITY_UAH):
    """Days (in 1/100 day) from new to the latest ERI (reading 0.5 % high) and to the earliest EOS (0.5 % low)."""
    per_tick = b.daily_uah(steps_per_day)  # µAh per day; ticks of 1/100 day
    used = 0
    t = 0
    eri_t = eos_t = None
    while eos_t is None:
        t += 1
        used = per_tick * t // 100
        v = b.mv_at(used * 1000000 // capacity)
        if eri_t is None and v * (1000000 + _ERR) // 1000000 <= eri_mv:
            eri_t = t
        if v * (1000000 - _ERR) // 1000000 <= eos_mv:
            eos_t = t
    return eri_t, eos_t


def test_ninety_days_remain_between_latest_eri_and_earliest_eos():
    for steps in (0, 2500, 10000, 50000, b.max_steps_per_day()):
        eri, eos = b.thresholds(steps)
        eri_t, eos_t = _discharge_days(steps, eri, eos)
        assert eos_t - eri_t >= 90 * 100, (steps, eri_t, eos_t)
        # and not wasteful: 3 mV lower and the guarantee breaks
        eri_t2, eos_t2 = _discharge_days(steps, eri - 3, eos)
        assert eos_t2 - eri_t2 < 90 * 100


def test_eos_keeps_its_reserve_even_when_reading_high():
    eri, eos = b.thresholds(0)
    late_dod = b.dod_at(eos * 1000000 // (1000000 + _ERR))
    assert (1000000 - late_dod) * b.CAPACITY_UAH // 1000000 >= b.EOS_RESERVE_UAH


def test_threshold_table_in_the_doc_matches_the_model():
    rows = 0
    with open(_root() + "/docs/battery.md") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 7 or not cells[0].replace(",", "").isdigit():
                continue
            steps = _int(cells[0])
            eri, eos = b.thresholds(steps)
            assert (_int(cells[2]), _int(cells[3]), _int(cells[4])) == (b.daily_uah(steps), eri, eos), line
            rows += 1
    assert rows == 7
    assert b.max_steps_per_day() == 85350


def test_more_than_the_cell_can_warn_for_is_refused():
    m = b.max_steps_per_day()
    b.thresholds(m)
    with raises(PumpError) as e:
        b.thresholds(m + 1)
    assert (e.value.code, e.value.detail) == (E_RANGE, "steps_per_day")
    assert b.max_steps_per_day(err_ppm=20000) < 30000  # uncalibrated readings: far less
    assert b.max_steps_per_day(capacity_uah=2 * b.CAPACITY_UAH) > 2 * m


def test_library_worst_case_is_far_beyond_the_cell():
    lib = DrugLibrary.load(_root() + "/lib/druglib.json")
    worst = b.max_daily_steps(lib, 200)
    assert worst == 500000  # hydromorphone: 10 mg/day at 100 ug/mL = 100 mL/day
    assert worst > b.max_steps_per_day()
    with raises(PumpError):
        b.thresholds(worst)
    assert b.max_daily_steps(lib, 400) == 250000


# ---- monitor ------------------------------------------------------------------------------------------------------


def test_monitor_debounces_each_change():
    m = b.BatteryMonitor(2900, 2441)
    assert m.state == b.STATE_OK
    assert m.sample(2950, 0) is None
    assert m.sample(2899, 1) is None
    assert m.sample(2900, 2) is None  # at the threshold counts
    assert m.sample(2950, 3) is None  # run broken
    assert [m.sample(2890, t) for t in (4, 5, 6)] == [None, None, b.STATE_ERI]
    assert m.state == b.STATE_ERI and m.changed_ms == 6
    assert [m.sample(2400, t) for t in (7, 8, 9)] == [None, None, b.STATE_EOS]
    assert m.changed_ms == 9


def test_noise_around_a_threshold_cannot_flap():
    m = b.BatteryMonitor(2900, 2441)
    changes = []
    x = 12345
    for t in range(20000):  # a cell sitting right at ERI, readings ±30 mV
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        s = m.sample(2900 + x % 61 - 30, t)
        if s is not None:
            changes.append(s)
    assert changes == [b.STATE_ERI]  # once in ERI, only above 2950 mV for 3 samples goes back


def test_eri_back_to_ok_only_above_the_hysteresis():
    m = b.BatteryMonitor(2900, 2441, debounce=2, hyst_mv=50)
    m.sample(2880, 0)
    assert m.sample(2880, 1) == b.STATE_ERI
    assert [m.sample(2950, t) for t in (2, 3, 4)] == [None, None, None]  # not above 2950
    assert m.sample(2951, 5) is None
    assert m.sample(2951, 6) == b.STATE_OK  # a cold cell warmed up


def test_eos_is_final_until_reset():
    m = b.BatteryMonitor(2900, 2441, debounce=1)
    assert m.sample(2000, 0) == b.STATE_EOS  # straight from OK
    assert m.sample(3100, 1) is None and m.state == b.STATE_EOS
    m.reset()
    assert m.state == b.STATE_OK
    assert m.sample(3100, 2) is None


def test_set_thresholds_and_bad_arguments():
    m = b.BatteryMonitor(2900, 2441)
    m.set_thresholds(3000, 2500)
    assert [m.sample(2990, t) for t in (0, 1, 2)] == [None, None, b.STATE_ERI]
    for eri, eos in ((2441, 2900), (2900, 0), (2900, 2900)):
        with raises(PumpError):
            b.BatteryMonitor(eri, eos)
        with raises(PumpError):
            m.set_thresholds(eri, eos)
    with raises(PumpError):
        b.BatteryMonitor(2900, 2441, debounce=0)


# ---- the simulated cell -------------------------------------------------------------------------------------------


def test_sim_battery_follows_the_model():
    plant = Plant(battery_mah=2200)
    clock = VirtualClock()
    bat = SimBattery(plant, clock=clock, noise_mv=0)
    assert bat.read_mv() == 3150
    eri, eos = b.thresholds(25000)
    day = 86400000
    mon = b.BatteryMonitor(eri, eos)
    states = {}
    for d in range(1, 400):
        clock.t_ms = d * day
        plant.steps_forward = 25000 * d
        for _ in range(3):
            s = mon.sample(bat.read_mv(), d)
            if s is not None:
                states[s] = d
    # ERI and EOS on the days the model gives (reading exact: between the error-margin bounds)
    assert 189 <= states[b.STATE_ERI] <= 235 and 323 <= states[b.STATE_EOS] <= 325
    assert states[b.STATE_EOS] - states[b.STATE_ERI] >= 90


def test_sim_battery_noise_and_faults():
    plant = Plant(battery_mah=2200)
    bat = SimBattery(plant, clock=VirtualClock())
    readings = [bat.read_mv() for _ in range(2000)]
    assert min(readings) >= 3144 and max(readings) <= 3156
    assert len(set(readings)) >= 10
    mean = sum(readings) / len(readings)
    assert 3149 < mean < 3151
    bat.fault = "stuck"
    last = bat.read_mv()
    assert all(bat.read_mv() == last for _ in range(20))
    bat.fault = "open"
    assert bat.read_mv() == 0
    bat.fault = "noisy"
    spread = [bat.read_mv() for _ in range(200)]
    assert max(spread) - min(spread) > 300


def test_a_stuck_battery_reading_raises_the_sensor_fault_within_its_64_hourly_samples():
    # Found by the long soak: the rest readings were fed as "not moving", so a stuck reading was never reported.
    # A healthy reading carries a few mV of ADC noise: 64 identical hourly readings in a row mean a stuck sensor.
    from pump import alarms as al
    from support.plan import HOUR_MS
    from support.rig import Rig, rx

    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(30 * HOUR_MS)
    alarms = rig.pump.safety.alarms
    assert not alarms.is_active(al.A_BATTERY_SENSOR_FAULT)  # 30 healthy noisy readings: nothing
    rig.hw.battery.fault = "stuck"
    rig.run(62 * HOUR_MS)
    assert not alarms.is_active(al.A_BATTERY_SENSOR_FAULT)
    rig.run(3 * HOUR_MS)
    assert alarms.is_active(al.A_BATTERY_SENSOR_FAULT)
    assert rig.pump.plan.running  # reported, dosing goes on (docs/safety.md: no action)


def test_dod_at_is_the_smallest_dod_at_or_below_every_voltage():
    for mv in range(1990, 3160):
        d = b.dod_at(mv)
        assert b.mv_at(d) <= mv or d == 1000000, mv
        assert d == 0 or b.mv_at(d - 1) > mv, mv


def test_no_daily_step_count_when_the_reserve_exceeds_the_cell():
    assert b.max_steps_per_day(days=5000) == 0  # 14 years of warning: no threshold at any rate


def test_an_empty_library_allows_no_steps():
    class _Empty:
        def names(self):
            return []

    assert b.max_daily_steps(_Empty(), 200) == 0


def test_monitor_from_a_fresh_or_reset_state_needs_the_full_debounce():
    for fresh in (True, False):
        m = b.BatteryMonitor(2900, 2441)
        if not fresh:
            m.sample(2000, 0)
            m.sample(2000, 1)
            m.reset()
        assert m.state == b.STATE_OK and m.changed_ms == 0
        assert [m.sample(2441, t) for t in (5, 6, 7)] == [None, None, b.STATE_EOS]  # at the EOS threshold counts
        assert m.changed_ms == 7


def test_default_hysteresis_is_50_mv():
    m = b.BatteryMonitor(2900, 2441)
    assert [m.sample(2900, t) for t in range(3)] == [None, None, b.STATE_ERI]
    assert [m.sample(2950, t) for t in range(3, 9)] == [None] * 6
    assert [m.sample(2951, t) for t in range(9, 12)] == [None, None, b.STATE_OK]


def test_monitor_argument_edges_and_errors():
    b.BatteryMonitor(2, 1, debounce=1, hyst_mv=0)
    m = b.BatteryMonitor(2900, 2441)
    m.set_thresholds(2, 1)
    for args in ((2900, 0), (2441, 2900), (2900, 2441, 0), (2900, 2441, 3, -1)):
        with raises(PumpError) as e:
            b.BatteryMonitor(*args)
        assert (e.value.code, e.value.detail) == (E_RANGE, "eri_mv")
    for eri, eos in ((2900, 0), (2441, 2900)):
        with raises(PumpError) as e:
            m.set_thresholds(eri, eos)
        assert (e.value.code, e.value.detail) == (E_RANGE, "eri_mv")
