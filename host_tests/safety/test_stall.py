"""Stall check: a jam is seen within the stated number of steps wherever it starts, a healthy (or coarse) encoder
never trips it, DIAG latches; the stall and encoder roles on the boards and in the simulator."""

from board import drivers
from board.sim.plant import Plant
from board.sim.roles import SimEncoder, SimStall, SimStepper
from pump.compat import TICKS_MASK
from pump.errors import E_RANGE, PumpError
from pump.stall import CAUSE_DIAG, CAUSE_ENCODER, CAUSE_NONE, StallCheck
from support import SkipTest, raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def _bound(window, pct):
    return 2 * window - (window * pct + 99) // 100


def _steps_to_detect(check, good_before, cps=1, burst=1):
    """Healthy bursts for `good_before` steps, then a complete jam: jammed steps until `stalled`."""
    done = 0
    while done < good_before:
        check.steps(burst, burst * cps)
        done += burst
    assert not check.stalled
    jammed = 0
    while not check.steps(burst, 0):
        jammed += burst
        assert jammed < 1000
    return jammed + burst


def test_complete_jam_is_seen_within_the_bound_wherever_it_starts():
    for window, pct in ((8, 50), (8, 75), (5, 50), (16, 20)):
        worst = 0
        for start in range(3 * window):
            c = StallCheck(2, pct, window)
            worst = max(worst, _steps_to_detect(c, start, cps=2))
            assert c.cause == CAUSE_ENCODER
        assert worst == _bound(window, pct), (window, pct, worst)
    assert _bound(8, 50) == 12


def test_bursts_longer_than_the_window_are_judged_whole():
    c = StallCheck(1, 50, 8)
    assert not c.steps(16, 16)
    assert c.windows == 1
    assert c.steps(16, 7)  # 7 of 16 expected: below half
    c = StallCheck(1, 50, 8)
    assert not c.steps(16, 8)  # exactly half passes


def test_slipping_mechanism_below_the_ratio_trips_above_it_does_not():
    c = StallCheck(4, 50, 8)
    for _ in range(1000):
        c.steps(1, 2)  # exactly 50 %
    assert not c.stalled
    c = StallCheck(4, 50, 8)
    got = [c.steps(1, 2 if i else 1) for i in range(8)]  # 15 of the 32 expected counts
    assert got == [False] * 7 + [True] and c.windows == 1


def test_coarse_encoder_quantization_never_fakes_a_stall():
    # one count every 4 steps, seen at any phase of the disc; window 16 steps as the docstring asks
    for phase in range(4):
        c = StallCheck(1, 50, 16, steps_per_count=4)
        pos = phase
        for _ in range(4000):
            before = pos // 4
            pos += 1
            c.steps(1, pos // 4 - before)
        assert not c.stalled and c.windows == 250
    c = StallCheck(1, 50, 16, steps_per_count=4)
    for _ in range(16):
        c.steps(1, 0)
    assert c.stalled


def test_diag_latches_at_once_and_reset_clears():
    c = StallCheck(1)
    assert c.cause == CAUSE_NONE
    assert c.diag() and c.stalled and c.cause == CAUSE_DIAG
    c.steps(8, 0)
    assert c.cause == CAUSE_DIAG  # the first cause is kept
    c.reset()
    assert not c.stalled and c.cause == CAUSE_NONE and c.windows == 0
    assert not c.steps(8, 8)


def test_bad_parameters():
    for args in ((0,), (1, 0), (1, 101), (1, 50, 0), (2, 50, 8, 2), (1, 50, 8, 0)):
        with raises(PumpError) as e:
            StallCheck(*args)
        assert e.value.code == E_RANGE


def test_steps_allocate_nothing():
    try:
        import micropython
    except ImportError:
        raise SkipTest("no heap lock on CPython")
    c = StallCheck(2, 50, 8)
    i = 0
    micropython.heap_lock()
    try:
        while i < 1000:
            c.steps(1, 2 if i < 900 else 0)
            i += 1
    finally:
        micropython.heap_unlock()
    assert c.stalled


# ---- roles --------------------------------------------------------------------------------------------------------


class _IrqPin:
    IRQ_RISING = 1

    def __init__(self):
        self.level = 0
        self.handler = None
        self.kw = None

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler
        self.kw = (trigger, hard)

    def value(self):
        return self.level

    def edge(self):
        self.handler(self)


def test_irq_flag_latches_an_edge_and_reports_a_high_level():
    pin = _IrqPin()
    flag = drivers.IrqFlag(pin, pin.IRQ_RISING)
    assert pin.kw == (1, False)
    assert not flag.triggered()
    pin.edge()
    pin.edge()
    assert flag.triggered()  # two edges, one report
    assert not flag.triggered()  # read and cleared
    pin.level = 1  # held high: a driver error, or a loose DIAG pulled up
    assert flag.triggered() and flag.triggered()


def test_edge_counter_counts_in_a_hard_irq_and_wraps_like_ticks():
    pin = _IrqPin()
    enc = drivers.EdgeCounter(pin, 3)
    assert pin.kw == (3, True)
    for _ in range(5):
        pin.edge()
    assert enc.count() == 5
    enc._count = TICKS_MASK - 1
    before = enc.count()
    for _ in range(4):
        pin.edge()
    assert enc.count() == 2 and (enc.count() - before) & TICKS_MASK == 4


def test_io_roles_are_none_unless_configured():
    made = []

    class Pin:
        OUT, IN, PULL_UP, IRQ_RISING, IRQ_FALLING = 1, 0, 2, 4, 8

        def __init__(self, pin_id, mode=-1, pull=None, value=None):
            self.id = pin_id
            made.append((pin_id, mode, pull, value))

        def value(self, v=None):
            return 0

        def irq(self, handler=None, trigger=0, hard=False):
            made.append(("irq", self.id, trigger, hard))

    cfg = {"buzzer": 15, "led": "LED", "stall_diag": None, "encoder": None}
    buzzer, led, stall, encoder = drivers.io_roles(Pin, lambda pin: pin, cfg)
    assert stall is None and encoder is None and buzzer is not None and led is not None
    assert made == [("LED", 1, None, 0)]  # the buzzer's pin waits for its first tone
    cfg.update(stall_diag=5, encoder=8, buzzer=None, led=None)
    made[:] = []
    buzzer, led, stall, encoder = drivers.io_roles(Pin, lambda pin: pin, cfg)
    assert buzzer is None and led is None
    assert made == [(5, 0, 2, None), ("irq", 5, 4, False), (8, 0, 2, None), ("irq", 8, 12, True)]


def test_sim_encoder_and_stall_follow_the_plant():
    plant = Plant(fill_ul=1000)
    stepper = SimStepper(plant)
    enc = SimEncoder(plant, counts_per_step=2)
    diag = SimStall(plant)
    c = StallCheck(2, 50, 8)
    for _ in range(20):
        before = enc.count()
        stepper.step_forward(4)
        assert not diag.triggered()
        assert not c.steps(4, (enc.count() - before) & TICKS_MASK)
    assert enc.count() == 160
    plant.jammed = True
    before = enc.count()
    stepper.step_forward(4)
    assert diag.triggered() and not diag.triggered()  # flagged once for those steps
    assert enc.count() == before  # the mechanism did not move
    assert not c.steps(4, 0)  # half a window
    stepper.step_forward(4)
    assert c.steps(4, (enc.count() - before) & TICKS_MASK) and c.cause == CAUSE_ENCODER
    plant.jammed = False
    stepper.step_reverse(3)
    assert enc.count() == before + 6 and not diag.triggered()


def test_defaults_see_a_jam_within_12_steps_and_pass_exactly_half():
    worst = 0
    for start in range(24):
        worst = max(worst, _steps_to_detect(StallCheck(1), start))
    assert worst == 12  # docs/safety.md: 2.4 uL at 200 nL per step
    c = StallCheck(1)
    assert not c.steps(7, 7) and c.windows == 0  # 7 steps: the 8-step window is not complete yet
    assert not c.steps(1, 0) and c.windows == 1  # 4 of 8 expected counts: exactly half passes
    assert c.steps(8, 3)


def test_just_below_the_ratio_trips_on_a_fine_encoder():
    c = StallCheck(100, 50, 8)
    assert not c.steps(8, 400)  # exactly half of the 800 expected counts
    assert c.steps(8, 399)  # one count short of half


def test_parameter_edges_and_the_error_names_the_parameter():
    for args in ((1, 1), (1, 100), (1, 50, 1), (1, 50, 1, 4)):
        StallCheck(*args)  # accepted
    assert StallCheck(1, 50, 1).steps(1, 0)  # a one-step window judges every step
    for args, name in (((0,), "counts_per_step"), ((2, 50, 8, 2), "counts_per_step"), ((1, 0), "min_ratio_pct"),
                       ((1, 101), "min_ratio_pct"), ((1, 50, 0), "window_steps"), ((1, 50, 8, 0), "steps_per_count")):
        with raises(PumpError) as e:
            StallCheck(*args)
        assert e.value.code == E_RANGE and e.value.detail == name, (args, e.value.detail)
