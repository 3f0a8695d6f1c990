"""Occlusion detector on synthetic pressure sequences, and the simulated hydraulics it is measured on (board.sim)."""

from pump.errors import E_RANGE, PumpError
from pump.occlusion import (
    OCCLUDED,
    OK,
    REASON_FULL,
    REASON_PARTIAL,
    SUSPECT,
    NoSensor,
    OcclusionDetector,
    detector_for,
)
from support import SkipTest, raises

from board.sim.clock import VirtualClock
from board.sim.hydraulics import HYD_CLEARED, HYD_OCCLUDED, Hydraulics
from board.sim.plant import Plant
from board.sim.roles import SimPressure

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_V = 200  # nL per step
_START = 0x3FFFFFFF - 3600000  # ticks one hour before the wrap, like the simulator's clock


class Line:
    """Synthetic readings (0.1 kPa counts): CSF level `csf`, jump per step jump_x16/16, noise +-`noise` counts.

    Open: the residual is the CSF level (the last step drained); occluded: every step stays (the level is frozen).
    """

    def __init__(self, jump_x16=200, csf=12, noise=1, interval_ms=3456, seed=12345):
        self.jump_x16 = jump_x16
        self.csf = csf
        self.noise = noise
        self.interval_ms = interval_ms
        self.x = seed
        self.t = _START
        self.occluded = False
        self.trapped_x16 = 0  # pressure above the CSF level held by an occlusion, x16
        self.steps = 0

    def pressure(self):
        """csf + trapped (rounded with a dither, so the average is right) + noise."""
        x = self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        noise = (x >> 16) % (2 * self.noise + 1) - self.noise if self.noise else 0
        return self.csf + ((self.trapped_x16 + (x >> 7 & 15)) >> 4) + noise

    def wake(self, det, steps=1):
        """One wake-up: residual, `steps` steps unless the detector says OCCLUDED, peak. True when it stepped."""
        self.t = (self.t + self.interval_ms) & 0x3FFFFFFF
        det.before_step(self.pressure(), self.t)
        if det.state == OCCLUDED:
            return False
        self.trapped_x16 += steps * self.jump_x16
        det.after_step(self.pressure(), steps, self.t)
        self.steps += steps
        if not self.occluded:
            self.trapped_x16 = 0  # drained before the next wake-up
        return True

    def run(self, det, wakes, steps=1):
        """Wake-ups until an alarm; the number of wake-ups that stepped."""
        for i in range(wakes):
            if not self.wake(det, steps):
                return i
        return wakes


def _settled(line=None, **params):
    line = line or Line()
    det = OcclusionDetector(_V, **params)
    assert line.run(det, 200) == 200
    assert det.state == OK and det.settled
    return line, det


# ---- full occlusion ----


def test_full_occlusion_alarms_after_the_rise_threshold_plus_confirmation():
    line, det = _settled()
    assert abs(det.baseline_kpa_x10 - 12) <= 1
    assert abs(det.c_nl_per_kpa() - 160) <= 8  # measured from the jumps: J = 12.5 counts = V / (160 nL/kPa)
    line.occluded = True
    stepped = line.run(det, 100)
    # 5 kPa = 4 steps of 1.25 kPa above the first residual, then 2 more rising residuals
    assert 5 <= stepped <= 7
    assert det.state == OCCLUDED and det.reason == REASON_FULL
    assert abs(det.held_back_nl() - stepped * _V) <= _V  # C x elevation: every step since the onset


def test_full_occlusion_with_five_times_the_compliance():
    line, det = _settled(Line(jump_x16=40))  # J = 2.5 counts: C = 800 nL/kPa, first guess still 160
    assert 700 <= det.c_nl_per_kpa() <= 900
    line.occluded = True
    stepped = line.run(det, 200)
    assert 19 <= stepped <= 25  # 5 kPa / 0.25 kPa per step, plus confirmation: at most 5 uL held back
    assert det.state == OCCLUDED and det.reason == REASON_FULL
    assert abs(det.held_back_nl() - stepped * _V) <= 2 * _V


def test_detection_counts_steps_not_time():
    counts = []
    for interval_ms in (345600, 34560, 864):  # 0.05, 0.5 and 20 mL/day at 200 nL per step
        line, det = _settled(Line(interval_ms=interval_ms))
        line.occluded = True
        counts.append(line.run(det, 100))
    assert counts[0] == counts[1] == counts[2]


def test_bursts_and_unsampled_steps_count_towards_the_rise():
    line, det = _settled(Line(jump_x16=40))
    line.occluded = True
    stepped = line.run(det, 100, steps=4)  # four steps per wake-up (a late wake-up catching up)
    assert det.state == OCCLUDED and det.reason == REASON_FULL
    assert 5 <= stepped <= 7  # the same ~5 kPa, reached in a quarter of the wake-ups
    line, det = _settled(Line(jump_x16=40))
    line.occluded = True
    for i in range(100):  # readings around every third step only
        if i % 3:
            line.trapped_x16 += line.jump_x16
            det.steps_unsampled(1)
        elif not line.wake(det):
            break
    assert det.state == OCCLUDED
    assert 19 <= line.trapped_x16 // line.jump_x16 <= 27


def test_alarm_is_latched_until_rearmed():
    line, det = _settled()
    line.occluded = True
    line.run(det, 100)
    assert det.state == OCCLUDED
    t = det.alarm_ticks
    det.before_step(12, t + 1000)  # the pressure back down (after a back-off) does not clear the verdict
    assert det.state == OCCLUDED and det.alarm_ticks == t
    det.rearm()
    assert det.state == OK
    line.occluded = False
    line.trapped_x16 = 0
    assert line.run(det, 300) == 300  # the open line again: no alarm, the baseline was kept
    assert abs(det.baseline_kpa_x10 - 12) <= 1


# ---- no false alarms ----


def test_noise_alone_never_trips():
    line, det = _settled(Line(noise=8))  # +-0.8 kPa: breathing and pulse together
    seen = set()
    for _ in range(20000):
        assert line.wake(det)
        seen.add(det.state)
    assert seen == {OK}


def test_posture_changes_and_cough_spikes_do_not_trip():
    line, det = _settled(Line(noise=4))
    for episode in range(20):
        line.csf = 12 + 35  # sitting up: +3.5 kPa, for 300 steps (at 20 mL/day: over 4 minutes)
        assert line.run(det, 300) == 300
        line.csf = 12
        assert line.run(det, 200) == 200
        for _ in range(5):  # single readings of a cough, +6 to +10 kPa, some during posture
            line.csf = 12 + 60 + 8 * episode % 40
            assert line.wake(det)
            line.csf = 12 + (35 if episode % 2 else 0)
            assert line.run(det, 3) == 3
        line.csf = 12
    assert det.state in (OK, SUSPECT)
    assert 10 <= det.baseline_kpa_x10 <= 12 + 5  # 10 h, 6 of them sitting: at most 1 kPa a day up


def test_slow_baseline_drift_does_not_trip():
    line, det = _settled(Line(noise=3, interval_ms=60000))
    for _ in range(3):  # +4.5 kPa and back over 3 x 2 days, one residual a minute, 3 times
        for i in range(2880):
            line.csf = 12 + 45 * i // 2880
            assert line.wake(det)
        for i in range(2880):
            line.csf = 57 - 45 * i // 2880
            assert line.wake(det)
    assert det.state == OK


def test_baseline_drifts_up_at_most_the_daily_limit():
    line, det = _settled(Line(noise=0, interval_ms=60000))
    line.csf = 52  # +4 kPa for a whole day
    assert line.run(det, 1440) == 1440
    assert det.state == OK
    assert 12 + 8 <= det.baseline_kpa_x10 <= 12 + 11  # 1 kPa per day (a little less: credit starts empty)
    line.csf = 12
    assert line.run(det, 400) == 400
    assert det.baseline_kpa_x10 <= 13  # down again once the level is


# ---- partial occlusion ----


def test_steady_elevation_with_enough_volume_held_back_is_a_partial_occlusion():
    line, det = _settled(Line(jump_x16=40, noise=1))  # C = 800 nL/kPa: 5 uL held back = 6.25 kPa
    line.csf = 12 + 70  # +7 kPa steady: 5.6 uL held back, not rising
    stepped = line.run(det, 50)
    assert det.state == OCCLUDED and det.reason == REASON_PARTIAL
    assert 5 <= stepped <= 8
    assert 5000 <= det.held_back_nl() <= 6500


def test_steady_elevation_holding_little_volume_stays_suspect():
    line, det = _settled(Line(jump_x16=40, noise=1))
    line.csf = 12 + 56  # +5.6 kPa: 4.5 uL held back
    assert line.run(det, 500) == 500
    assert det.state == SUSPECT
    line, det = _settled(Line(noise=1))  # default C: +20 kPa holds only 3.2 uL
    line.csf = 12 + 100
    assert line.run(det, 500) == 500
    assert det.state == SUSPECT


def test_pressure_at_the_ceiling_is_a_partial_occlusion_whatever_the_baseline():
    line, det = _settled(Line(csf=90, noise=1))  # a baseline settled high (9 kPa)
    line.csf = 125  # 12.5 kPa: only 3.5 kPa above that baseline, but above any CSF pressure
    stepped = line.run(det, 50)
    assert det.state == OCCLUDED and det.reason == REASON_PARTIAL
    assert stepped <= 7


# ---- back-off, clearing, sensor presence, parameters ----


def test_backoff_steps_bring_the_pressure_back_to_the_baseline():
    line, det = _settled(Line(noise=0))
    line.occluded = True
    stepped = line.run(det, 100)
    assert abs(det.backoff_steps(_V) - stepped) <= 1
    assert abs(det.backoff_steps(2 * _V) - stepped / 2) <= 1  # reverse steps twice as large: half as many
    with raises(PumpError) as e:
        det.backoff_steps(0)
    assert e.value.code == E_RANGE


def test_cleared_when_a_resume_releases_little():
    line, det = _settled(Line(noise=0))
    line.occluded = True
    line.run(det, 100)
    base = det.baseline_kpa_x10
    assert not det.cleared(base + 60)
    assert det.cleared(base + 5)  # 0.5 kPa: 80 nL
    assert det.cleared(base - 20)  # below the baseline (backed off too far): no bolus
    assert not det.cleared(base + 25)  # half the rise threshold
    line, det = _settled(Line(jump_x16=40, noise=0))  # 5 x C: 1 uL is 1.25 kPa
    base = det.baseline_kpa_x10
    assert det.cleared(base + 10) and not det.cleared(base + 14)


def test_reset_forgets_the_baseline():
    line, det = _settled()
    det.reset()
    assert not det.settled and det.state == OK
    line.csf = 40
    assert line.run(det, 50) == 50
    assert abs(det.baseline_kpa_x10 - 40) <= 1


def test_no_pressure_role_means_no_detection_and_says_so():
    det = detector_for(None, _V)
    assert isinstance(det, NoSensor) and not det.available
    det.before_step(900, 0)
    det.after_step(990, 1, 0)
    assert det.state == OK and det.held_back_nl() == 0 and det.backoff_steps(_V) == 0 and det.cleared(999)
    det = detector_for(object(), _V, rise_kpa_x10=40)
    assert det.available and det.rise_kpa_x10 == 40


def test_bad_parameters_are_refused_by_name():
    for kwargs, key in (({}, "nl_per_step"), ({"rise_kpa_x10": 1}, "rise_kpa_x10"),
                        ({"confirm": 0}, "confirm"), ({"c_nl_per_kpa": 0}, "c_nl_per_kpa")):
        with raises(PumpError) as e:
            OcclusionDetector(0 if not kwargs else _V, **kwargs)
        assert e.value.code == E_RANGE and key in e.value.detail


def test_faulty_readings_keep_every_value_a_small_int():
    line, det = _settled()
    for p in (1 << 29, -(1 << 29), 20000, -125, 1125):
        det.before_step(p, 0)
        det.after_step(p, 1000, 0)
        for v in (det.base_x1024, det.level_x1024, det.jump_x256, det._res, det.held_back_nl()):
            assert -(1 << 30) < v < (1 << 30)


def test_steady_state_allocates_nothing():
    try:
        import micropython
    except ImportError:
        raise SkipTest("no heap lock on CPython")
    line, det = _settled(Line(noise=3))
    line.occluded = True
    before, after = det.before_step, det.after_step
    vals = [line.pressure() for _ in range(64)]
    micropython.heap_lock()
    try:
        t = 0
        for i in range(2000):  # open-line readings, then rising ones until the alarm (SUSPECT and OCCLUDED paths)
            p = vals[i & 63] if i < 1000 else 12 + (i - 1000)
            t += 3456
            before(p, t)
            after(p + 12, 1, t)
    finally:
        micropython.heap_unlock()
    assert det.state == OCCLUDED


# ---- the simulated hydraulics (board.sim) ----


def _plant(c_ul_per_kpa=0.16, **kwargs):
    clock = VirtualClock()
    plant = Plant(nl_per_step=_V, fill_ul=1000)
    hyd = Hydraulics(clock, c_ul_per_kpa=c_ul_per_kpa, postures_per_day=0, **kwargs).attach(plant)
    return clock, plant, hyd


def test_open_line_drains_each_step_with_tau_r_c():
    clock, plant, hyd = _plant(resp_kpa=0, cardiac_kpa=0)
    p0 = hyd.pressure_kpa()
    plant.forward(1)
    assert abs(hyd.pressure_kpa() - p0 - 1.25) < 1e-9  # V / C = 0.2 uL / 0.16 uL/kPa
    assert plant.delivered_nl == 0  # all of it still in the compliance
    clock.t_ms += int(hyd.tau_s * 1000)
    assert abs(hyd.pressure_kpa() - p0 - 1.25 * 0.3679) < 0.01  # one tau later: e^-1 of it left
    assert 120 <= plant.delivered_nl <= 130
    clock.t_ms += 10000
    hyd.advance()
    assert plant.delivered_nl == 200 and abs(hyd.pressure_kpa() - p0) < 1e-9


def test_full_occlusion_holds_every_step_and_clearing_releases_the_excess():
    clock, plant, hyd = _plant(resp_kpa=0, cardiac_kpa=0)
    clock.t_ms += 1000
    hyd.occlude()
    p0 = hyd.pressure_kpa()
    for _ in range(10):
        clock.t_ms += 60000
        plant.forward(1)
    assert hyd.state == HYD_OCCLUDED
    assert abs(hyd.pressure_kpa() - p0 - 12.5) < 1e-9  # no flow, no CSF wave: 10 x V / C exactly
    assert abs(hyd.excess_nl() - (2000 + 160 * (p0 - hyd.p_csf_kpa))) < 1e-6  # held above the CSF level
    delivered = plant.delivered_nl
    plant.reverse(8)
    assert plant.reservoir_nl == 1000000 - 400 and plant.steps_reverse == 8
    bolus = hyd.clear()
    assert hyd.state == HYD_CLEARED
    clock.t_ms += 60000
    hyd.advance()
    assert abs(plant.delivered_nl - delivered - bolus) <= 1  # the clearing released exactly that
    assert abs(bolus - 400) < 1e-6  # 10 steps in, 8 back out
    assert hyd.pumped_nl == 400


def test_partial_occlusion_slows_the_drain():
    clock, plant, hyd = _plant(resp_kpa=0, cardiac_kpa=0)
    tau = hyd.tau_s
    hyd.partial(20)
    assert abs(hyd.tau_s - 20 * tau) < 1e-12
    plant.forward(1)
    clock.t_ms += int(hyd.tau_s * 1000)
    hyd.advance()
    assert 120 <= plant.delivered_nl <= 130


def test_sensor_reads_tenths_of_kpa_and_its_faults():
    clock, plant, hyd = _plant(resp_kpa=0, cardiac_kpa=0, p_csf_kpa=1.23)
    s = SimPressure(hyd, seed=3, noise_kpa=0)
    assert s.read_kpa_x10() == 12
    s.noise_kpa = 0.05
    r = [s.read_kpa_x10() for _ in range(200)]
    assert 10 <= min(r) and max(r) <= 14 and len(set(r)) >= 3
    s.set_fault("stuck")
    last = s.read_kpa_x10()
    plant.forward(5)
    assert s.read_kpa_x10() == last
    s.set_fault("open")
    assert s.read_kpa_x10() == -125
    s.set_fault("out_of_range")
    assert s.read_kpa_x10() == 20000
    s.set_fault("noisy")
    r = [s.read_kpa_x10() for _ in range(200)]
    assert max(r) - min(r) >= 30
    with raises(ValueError):
        s.set_fault("melted")


# ---- parameters and edges found by mutation testing (docs/mutation.md) ----

_PARAMS = (  # name, smallest, largest accepted
    ("nl_per_step", 1, 100000), ("c_nl_per_kpa", 1, 1000000), ("rise_kpa_x10", 2, 2000), ("confirm", 1, 100),
    ("partial_nl", 1, 1000000), ("ceiling_kpa_x10", 1, 8191), ("partial_confirm", 1, 1000), ("clear_nl", 0, 1000000),
    ("settle", 1, 1000), ("drift_kpa_x10_per_day", 1, 10000),
)


def _make(name, value):
    if name == "nl_per_step":
        return OcclusionDetector(value)
    return OcclusionDetector(_V, **{name: value})


def test_every_parameter_accepts_its_range_and_names_it_outside():
    for name, lo, hi in _PARAMS:
        _make(name, lo)
        _make(name, hi)
        for bad in (lo - 1, hi + 1, 1.5):
            with raises(PumpError) as e:
                _make(name, bad)
            assert e.value.code == E_RANGE
            assert e.value.detail == "occlusion.%s: %d..%d" % (name, lo, hi), e.value.detail


def _doc_defaults():
    here = __file__
    for _ in range(3):
        here = here[: here.rfind("/")] if "/" in here else "."
    out = {}
    with open(here + "/docs/hydraulics.md") as f:
        for line in f:
            cells = [c.strip() for c in line.split("|")]
            if len(cells) > 3 and cells[1].startswith("`") and cells[2][:1].isdigit():
                out[cells[1].strip("`")] = int(cells[2].split()[0])
    return out


def test_defaults_are_the_documented_parameters():
    doc = _doc_defaults()
    assert sorted(doc) == sorted(name for name, _, _ in _PARAMS if name != "nl_per_step")
    det = OcclusionDetector(_V)
    for name in ("rise_kpa_x10", "confirm", "partial_nl", "ceiling_kpa_x10", "partial_confirm", "clear_nl", "settle"):
        assert getattr(det, name) == doc[name], name
    assert det.c_nl_per_kpa() == doc["c_nl_per_kpa"]  # the first guess, before any jump was measured
    # the documented upward drift: a day of a raised level moves both baselines alike
    lines = [Line(noise=0, interval_ms=60000), Line(noise=0, interval_ms=60000)]
    dets = [OcclusionDetector(_V), OcclusionDetector(_V, **doc)]
    for i in range(1640):
        for line, d in zip(lines, dets):
            line.csf = 12 if i < 200 else 52
            assert line.wake(d)
        assert dets[0].baseline_kpa_x10 == dets[1].baseline_kpa_x10 and dets[0].samples == dets[1].samples


def test_first_estimates_before_any_measurement_are_exact_integers():
    det = OcclusionDetector(_V, c_nl_per_kpa=150, clear_nl=160, rise_kpa_x10=51)  # J = 2000 x 256 / 150 = 3413
    assert det.c_nl_per_kpa() == 150
    det.before_step(12, _START)  # the first residual is the baseline
    assert det.held_back_nl() == 0 and det.held_back_nl(12) == 0
    assert det.held_back_nl(13) == 15  # 0.1 kPa x 150 nL/kPa, in whole nL (floored)
    assert det.held_back_nl(19) == 105
    for v in (det.held_back_nl(19), det.backoff_steps(_V), det.c_nl_per_kpa()):
        assert type(v) is int


def test_cleared_and_backoff_at_their_edges():
    det = OcclusionDetector(_V, clear_nl=160)  # first J: 12.5 counts per step, 16 nL per count
    det.before_step(12, _START)
    assert det.held_back_nl(22) == 160
    assert det.cleared(22)  # exactly clear_nl is still cleared
    det = OcclusionDetector(_V, clear_nl=1000000, rise_kpa_x10=51)
    det.before_step(12, _START)
    assert det.cleared(12 + 24) and not det.cleared(12 + 25)  # within half the rise (25.5 counts: 25 is not)
    det = OcclusionDetector(_V, rise_kpa_x10=2)  # any elevation is evidence: the baseline stays put
    det.before_step(12, _START)
    det.before_step(12 + 7, _START + 1000)  # 7 counts up: 112 nL held back
    assert det.state == SUSPECT and det.held_back_nl() == 112
    assert det.backoff_steps(_V) == 1  # 0.56 of a step rounds to one
    assert det.backoff_steps(1) == 112
    with raises(PumpError) as e:
        det.backoff_steps(0)
    assert (e.value.code, e.value.detail) == (E_RANGE, "nl_per_step")


def test_a_reading_far_below_zero_is_no_occlusion():
    line, det = _settled()
    det.before_step(-20000, line.t + 1000)  # a faulty sensor: the sensor-fault check's business, not this one's
    assert det.state == OK


def _isolated(**params):
    """A detector for the full-occlusion rule alone: partial and ceiling out of the way; baseline 40, J measured."""
    kw = {"partial_nl": 1000000, "ceiling_kpa_x10": 8191}
    kw.update(params)
    line, det = _settled(Line(csf=40, noise=0), **kw)
    return det, line.t


def _residuals(det, t, values, peak=13):
    """One step per residual; returns the states after each."""
    out = []
    for v in values:
        t += 1000
        det.before_step(v, t)
        out.append(det.state)
        det.after_step(v + peak, 1, t)
    return out


def test_the_rise_count_is_leaky_exactly_as_documented():
    # a rise (one step's jump) counts +1, a smaller rise -1, no rise at all resets it; 3 in a row alarm
    det, t = _isolated()
    assert _residuals(det, t, (100, 113, 113, 126, 139)) == [SUSPECT] * 5  # flat resets: 1, 2, 0, 1, 2
    assert _residuals(det, t + 5000, (152,)) == [OCCLUDED] and det.reason == REASON_FULL
    det, t = _isolated()
    assert _residuals(det, t, (100, 113, 114, 127, 140)) == [SUSPECT] * 4 + [OCCLUDED]  # 1, 2, 1, 2, 3
    det, t = _isolated()
    assert _residuals(det, t, (100, 102, 115, 128)) == [SUSPECT] * 4  # 1, 0, 1, 2
    r = det.jump_x256 >> 9  # the rise one step must show: J/2
    det, t = _isolated()
    assert _residuals(det, t, (100, 100 + r, 100 + 2 * r)) == [SUSPECT, SUSPECT, OCCLUDED]  # exactly J/2 counts


def test_steps_between_residuals_all_count_towards_the_rise():
    det, t = _isolated()
    j = det.jump_x256
    got = []
    p = 100
    for _ in range(5):  # one sampled step and three unsampled: a rise of 4 x J/2 is needed, 3 x J/2 shown
        t += 1000
        det.before_step(p, t)
        got.append(det.state)
        det.after_step(p + 13, 1, t)
        det.steps_unsampled(3)
        p += (3 * j >> 9) + 1
    assert got == [SUSPECT] * 5 and det.rises <= 1
    det, t = _isolated()
    p = 100
    for _ in range(5):  # two bursts of two steps between residuals: the same
        t += 1000
        det.before_step(p, t)
        det.after_step(p + 26, 2, t)
        det.after_step(p + 52, 2, t)
        p += (3 * j >> 9) + 1
    assert det.state == SUSPECT and det.rises <= 1
    det, t = _isolated()
    det.before_step(100, t + 1000)
    det.steps_unsampled(5000)  # a very long unsampled run counts as the clamp's 1000 steps
    det.before_step(110, t + 2000)
    assert det.state == SUSPECT


def test_partial_leaky_count_and_its_exact_confirmation():
    line, det = _settled(Line(jump_x16=40, noise=0))  # C = 800 nL/kPa: 5 uL held back = 62.5 counts
    base = det.baseline_kpa_x10
    got = []
    for i in range(14):  # two residuals holding 5.6 uL, one holding 4.4 uL, again and again: +1 +1 -1
        p = base + (55 if i % 3 == 2 else 70)
        line.t += 1000
        det.before_step(p, line.t)
        got.append(det.state)
        det.after_step(p + 3, 1, line.t)
    assert got == [SUSPECT] * 13 + [OCCLUDED] and det.reason == REASON_PARTIAL  # 1 2 1 2 3 2 3 4 3 4 5 4 5 6


def test_the_partial_volume_and_the_ceiling_are_inclusive():
    def verdict(e, nl=_V, c=160, partial=5000, base=40):
        det = OcclusionDetector(nl, c_nl_per_kpa=c, rise_kpa_x10=2, confirm=100, partial_nl=partial,
                                partial_confirm=1, ceiling_kpa_x10=8191)
        det.before_step(base, _START)
        det.before_step(base + e, _START + 1000)
        return det.state

    # J = 12.5 counts (the first guess): 5000 nL = 400 steps x16 held back from 313 counts (312 hold 399.4)
    assert verdict(312) == SUSPECT and verdict(313) == OCCLUDED
    # 3 nL steps, C = 1 nL/kPa: 1 nL (5.33 steps x16, rounded up to 6) from 12 counts (11 hold 5.87)
    assert verdict(11, 3, 1, 1) == SUSPECT and verdict(12, 3, 1, 1) == OCCLUDED
    det = OcclusionDetector(_V, confirm=100)
    det.before_step(90, _START)
    det.before_step(120, _START + 1000)  # exactly the ceiling, 3 kPa above the baseline
    assert det.state == SUSPECT and det.partial == 1


def test_a_second_occlusion_after_a_resume_needs_as_many_steps_as_the_first():
    line, det = _settled(Line(noise=0))
    line.csf = 12 + 70  # one cough: suspect, then back
    line.run(det, 1)
    line.csf = 12
    assert det.state == SUSPECT and line.run(det, 3) == 3 and det.state == OK
    line.occluded = True
    first = line.run(det, 100)
    det.rearm()
    assert det.held_back_nl() == 0 and det.state == OK  # back at the baseline until a residual says otherwise
    line.occluded = False
    line.trapped_x16 = 0
    assert line.run(det, 50) == 50
    line.occluded = True
    assert line.run(det, 100) == first


def test_jump_measurement_is_robust_and_unbiased():
    line, det = _settled(Line(jump_x16=256, noise=0))  # exactly 16 counts per step: C = 125 nL/kPa
    assert det.c_nl_per_kpa() == 125  # the rounded running average does not sink below the true jump
    j = det.jump_x256
    det.before_step(40, line.t + 1000)
    det.after_step(8191 + 5000, 1, line.t + 1000)  # one wild peak (clamped to the sensor span first)
    assert j < det.jump_x256 <= j + (3 * j + 16 >> 5)  # at most 3/32 up
    j = det.jump_x256
    det.before_step(40, line.t + 2000)
    det.after_step(-20000, 1, line.t + 2000)  # a wild low reading pulls it down, never up, and by 3/32 at most
    assert j - (3 * j + 16 >> 5) <= det.jump_x256 < j
    det.before_step(40, line.t + 3000)
    det.after_step(60, 0, line.t + 3000)  # a burst of no steps measures nothing
    det.before_step(40, line.t + 4000)
    j = det.jump_x256
    det.after_step(40 + 5000, 1000, line.t + 4000)  # the largest burst still measures: 5 counts per step
    assert det.jump_x256 < j
    line, det = _settled(Line(jump_x16=0, noise=0))  # no jump at all: J stops at its floor
    assert det.jump_x256 == 16
    for _ in range(300):
        line.t += 1000
        det.before_step(40, line.t)
        det.after_step(40 + 8191, 1, line.t)  # and at its ceiling
    assert det.jump_x256 == 262143


def test_settling_takes_exactly_settle_residuals():
    det = OcclusionDetector(_V, settle=4)
    for i in range(4):
        assert not det.settled
        det.before_step(40, _START + i * 1000)
    assert det.settled
    det = OcclusionDetector(_V, settle=1)
    det.before_step(40, _START)
    det.before_step(48, _START + 1000)  # settled: the level takes 1/64 of the step, the baseline stays
    assert det.baseline_kpa_x10 == 40


def test_the_baseline_earns_no_drift_credit_from_time_running_backwards_and_never_passes_the_level():
    line, det = _settled(Line(csf=40, noise=0))
    line.csf = 45
    line.run(det, 2)  # the level moves above the baseline
    base = det.base_x1024
    det.before_step(45, line.t - 5000)  # stamped before the last residual
    assert det.base_x1024 == base
    det.before_step(45, (line.t - 5000 + 0x20000000) & 0x3FFFFFFF)  # exactly half the ticks range on: no credit
    assert det.base_x1024 == base
    line, det = _settled(Line(csf=40, noise=0))
    det.before_step(41, line.t + 1000)  # the level a little above the baseline
    det.before_step(41, line.t + 1000 + 3600000)  # an hour of credit: far more than the gap
    assert det.base_x1024 == det.level_x1024


def test_a_wild_low_peak_reading_does_not_inflate_the_back_off():
    # Regression: a peak read below the residual (a loose sensor wire during the burst) pulled the jump average down
    # without bound: one 0 V rail reading made C, the volume held back and the back-off 1.6 times too big, a wilder
    # reading up to 200 times (J at its floor). Now one reading moves J by at most 3/32 either way.
    line, det = _settled(Line(noise=0))
    line.t += 1000
    det.before_step(line.pressure(), line.t)
    det.after_step(-125, 1, line.t)  # the 0 V rail read as -12.5 kPa
    assert 150 <= det.c_nl_per_kpa() <= 180
    line.occluded = True
    stepped = line.run(det, 100)
    assert det.state == OCCLUDED and abs(det.backoff_steps(_V) - stepped) <= 1


def _j_update(avg, jump_x256):
    """The documented jump average: the new jump clipped to [-2 J, 4 J], 1/32 of the way, rounded, kept in range."""
    j = max(-2 * avg, min(4 * avg, jump_x256))
    return max(16, min(262143, avg + ((j - avg + 16) >> 5)))


def test_each_peak_moves_the_jump_average_as_documented():
    line, det = _settled(Line(jump_x16=256, noise=0))
    t = line.t
    for jump_counts in (-100000, -60, -30, -10, -5, -3, 0, 16, 17, 40, 70, 100000):  # wild, moderate, low, high
        t += 1000
        det.before_step(40, t)
        j = det.jump_x256
        det.after_step(40 + jump_counts, 1, t)
        assert det.jump_x256 == _j_update(j, max(-8191 - 40, min(8191 - 40, jump_counts)) << 8), jump_counts
    line, det = _settled(Line(jump_x16=0, noise=0))
    assert det.jump_x256 == 16
    det.before_step(12, line.t + 1000)
    det.after_step(11, 1, line.t + 1000)  # below the floor: stays there
    assert det.jump_x256 == 16


def test_full_needs_the_rise_threshold_reached_exactly_at_the_ceiling():
    line, det = _settled(Line(csf=100, noise=0))  # a high baseline: the 12 kPa ceiling is 2 kPa above it
    got = _residuals(det, line.t, (120, 130, 140, 150))  # rising from the ceiling on; 5 kPa above at the 4th
    assert got == [SUSPECT] * 3 + [OCCLUDED] and det.reason == REASON_FULL


def test_a_long_unsampled_run_counts_as_the_clamp_and_takes_a_rise_off():
    det, t = _isolated()
    assert _residuals(det, t, (100, 113)) == [SUSPECT, SUSPECT] and det.rises == 2
    det.steps_unsampled(5000)
    det.before_step(120, t + 3000)  # 7 counts over 1000 steps: far less than a rise
    assert det.rises == 1
    assert _residuals(det, t + 3000, (133,)) == [SUSPECT]


def test_a_flat_level_saves_no_drift_credit():
    line, det = _settled(Line(csf=40, noise=0, interval_ms=60000))
    assert line.run(det, 100) == 100  # 100 minutes flat
    base = det.base_x1024
    assert det.level_x1024 == base
    line.csf = 45
    line.run(det, 1)
    assert det.base_x1024 - base <= 60000 // (86400000 // (10 << 10))  # one minute's credit, not the flat hours


def test_a_partial_occlusion_after_a_cough_needs_as_many_residuals():
    counts = []
    for cough in (False, True):
        line, det = _settled(Line(jump_x16=40, noise=0))
        if cough:
            line.csf = 12 + 80
            line.run(det, 1)
            line.csf = 12
            assert det.state == SUSPECT and line.run(det, 2) == 2 and det.state == OK
        line.csf = 12 + 70  # steady: 5.6 uL held back
        counts.append(line.run(det, 50))
    assert counts[0] == counts[1] and det.reason == REASON_PARTIAL


def test_a_baseline_and_jump_saved_before_a_reset_are_taken_back():
    line, det = _settled(Line(csf=40, noise=0))
    base, jump = det.saved()
    assert base == det.baseline_kpa_x10 == 40 and jump == det.jump_x256 != OcclusionDetector(_V).jump_x256
    fresh = OcclusionDetector(_V)
    fresh.restore(base, jump)
    assert fresh.settled and fresh.state == OK and fresh.saved() == (base, jump) and fresh.baseline_kpa_x10 == 40
    # on a blocked line the restored detector alarms after as many wake-ups as the one never reset (the same line
    # again, from the same instant)
    twin, _ = _settled(Line(csf=40, noise=0))
    line.occluded = twin.occluded = True
    assert twin.run(fresh, 100) == line.run(det, 100) < 10
    # the accepted ranges: a baseline of 1 to 8191 counts, a jump of 1/16 to 1024 counts per step x256
    for b, j in ((1, 16), (8191, 262143)):
        d = OcclusionDetector(_V)
        d.restore(b, j)
        assert d.settled and d.saved() == (b, j), (b, j)
    # nothing saved (a pump without a pressure sensor saves zeros) or out of range: settle afresh
    assert NoSensor().saved() == (0, 0)
    for b, j in ((0, 0), (0, 16), (8192, 16), (1, 15), (1, 262144)):
        d = OcclusionDetector(_V)
        d.restore(b, j)
        assert not d.settled and d.saved() == OcclusionDetector(_V).saved(), (b, j)


def test_a_baseline_at_or_below_zero_is_saved_as_none_and_fits_the_checkpoint():
    # a noisy sensor around 0 kPa drags the level and the baseline below zero (seen in the soak at 0.1 mL/day): the
    # unsigned checkpoint field must not get a negative baseline, and a restore of it settles afresh
    from pump.checkpoint import Counters, pack, unpack

    line, det = _settled(Line(csf=0, noise=4))
    assert det.base_x1024 < 0
    base, jump = det.saved()
    assert base == 0 and jump == det.jump_x256
    c = Counters()
    c.occ_base_kpa_x10, c.occ_jump_x256 = base, jump
    assert unpack(pack(c)).occ_base_kpa_x10 == 0
    fresh = OcclusionDetector(_V)
    fresh.restore(base, jump)
    assert fresh.samples == 0  # nothing restored: the baseline settles again
    line, det = _settled(Line(csf=40))
    assert det.saved() == (det.base_x1024 >> 10, det.jump_x256) and det.saved()[0] > 0
