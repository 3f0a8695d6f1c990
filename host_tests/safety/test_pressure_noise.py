"""The pressure sensor's noise check at low rates (pump.safety on the simulated line of board.sim): posture and the
CSF waves between bursts minutes apart are no noise; a genuinely noisy sensor holds dosing within the stated bound."""

from board.sim.clock import VirtualClock
from board.sim.hydraulics import Hydraulics
from board.sim.roles import SimPressure
from pump import alarms as al
from pump.safety import Safety
from pump.sensorfault import FAULT_NOISY, FAULT_NONE, FAULT_OPEN, SensorCheck

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_NL = 200
_HOLD = 1 << (al.A_PRESSURE_SENSOR_FAULT - 1)
_OLD = (1, 999, 0, 1000, 32, 16, 8, 4)  # the pressure check before pairs: noise from successive residuals
_WINDOW = 16  # pump.safety's pressure noise window, in bursts

# the residuals before 18 bursts at 0.1 mL/day (2.9 min apart) in the soak, seed 1, day 31: two posture episodes
# (+2.9 and +3.2 kPa) on breathing and pulse, which the successive-difference rule took for a noisy sensor
SOAK_RESIDUALS = (12, 12, 14, 10, 11, 43, 39, 11, 15, 12, 7, 13, 16, 12, 13, 12, 8, 43)


class _Stepper:
    def __init__(self, hyd):
        self.hyd = hyd

    def step_reverse(self, n):
        self.hyd.withdraw_nl(n * _NL)

    def disable(self):
        pass


class _Replay:
    """A pressure role giving `values` in turn."""

    def __init__(self, values):
        self.values = values
        self.i = 0

    def read_kpa_x10(self):
        v = self.values[self.i % len(self.values)]
        self.i += 1
        return v


class _Hw:
    battery = None
    encoder = None
    stall = None

    def __init__(self, pressure, stepper=None):
        self.pressure = pressure
        self.stepper = stepper


class _Line:
    """pump.safety on a simulated open line (default compliance, posture, waves, sensor noise) at `ml_per_day`, one
    step per burst; `burst()` is one wake-up, True when it stepped and dosing goes on."""

    def __init__(self, ml_per_day, seed=1):
        self.clock = VirtualClock()
        self.hyd = Hydraulics(self.clock, seed=seed)
        self.sensor = SimPressure(self.hyd, seed)
        self.interval_ms = 86400000 * _NL // int(ml_per_day * 1000000)
        self.safety = Safety(_Hw(self.sensor, _Stepper(self.hyd)), _NL, lambda e, c: None, self.clock.ticks_ms())
        self.residuals = []

    def burst(self):
        self.clock.t_ms += self.interval_ms
        now = self.clock.ticks_ms()
        s = self.safety
        if not s.before_burst(now):
            return False
        self.residuals.append(s.last_p)
        self.hyd.pump_nl(_NL)
        s.stepped(now, 1)
        return not s.holding

    def resume(self):
        now = self.clock.ticks_ms()
        assert self.safety.release_holds(now) == 0
        self.safety.alarms.acknowledge(now)


def _old_faults(residuals):
    """How often the successive-difference rule (the check before pairs) would have raised a fault on them."""
    old = SensorCheck(*_OLD)
    faults = 0
    for r in residuals:
        if old.sample(r, True) != FAULT_NONE:
            faults += 1
            old.reset()  # resumed by a clinician
    return faults


def test_the_soak_posture_sequence_holds_no_dosing():
    assert _old_faults(SOAK_RESIDUALS) == 1  # the false fault the soak found, reproduced
    values = []
    for i, r in enumerate(SOAK_RESIDUALS):
        values += [r, r + 12 + i % 2]  # the residual, then the peak one step (1.25 kPa) higher, noise +-1 count
    hw = _Hw(_Replay(values), _Stepper(None))
    s = Safety(hw, _NL, lambda e, c: None, 0)
    now = 0
    for _ in range(10 * len(SOAK_RESIDUALS)):  # the same posture changes again and again
        now += 173000  # 0.1 mL/day: 2.9 min apart
        assert s.before_burst(now)
        s.stepped(now, 1)
    assert s.holding == 0 and s.pressure_check.fault == FAULT_NONE


def test_two_weeks_at_low_rates_raise_no_sensor_fault():
    # seeds on which the residuals alone faulted (6 and 3 times; over seeds 1-8 the successive rule faulted on 7 of 8
    # at 0.05 mL/day and on 3 of 8 at 0.1 mL/day within two weeks)
    for ml_per_day, seed in ((0.05, 4), (0.1, 7)):
        line = _Line(ml_per_day, seed)
        bursts = int(14 * ml_per_day * 1000000 / _NL)
        for _ in range(bursts):
            assert line.burst()
        assert line.hyd.postures >= 14 * 4  # posture episodes, about 8 a day
        assert _old_faults(line.residuals) >= 1  # the residuals alone would have faulted


def test_a_noisy_sensor_holds_dosing_within_the_bound_at_low_rates():
    for ml_per_day, seed in ((0.05, 3), (0.1, 4)):
        line = _Line(ml_per_day, seed)
        for _ in range(3 * _WINDOW):
            assert line.burst()
        taken = []
        for _ in range(12):  # a noisy sensor (sigma x 20: 1 kPa), caught, serviced, resumed, healthy a while
            line.sensor.set_fault("noisy")
            n = 1
            while line.burst():
                n += 1
            assert line.safety.holding == _HOLD
            # near 0 kPa a noisy reading can fall on the 0 kPa rail twice in a row: open, caught the same
            assert line.safety.pressure_check.fault in (FAULT_NOISY, FAULT_OPEN)
            taken.append(n)
            line.sensor.set_fault(None)
            line.resume()
            for _ in range(2 * _WINDOW):
                assert line.burst()
        taken.sort()
        # docs/safety.md: a 1 kPa noise is caught within 2 x 16 bursts, most often within 16
        assert taken[-1] <= 2 * _WINDOW and taken[len(taken) // 2] <= _WINDOW, taken
