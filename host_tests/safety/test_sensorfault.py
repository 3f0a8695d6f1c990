"""Sensor plausibility: each fault reported at exactly its stated sample, cleared only after a run of good samples,
no false fault from Gaussian noise with stuck_n chosen from the noise model, no allocation per sample."""

from pump import sensorfault as sf
from pump.errors import E_RANGE, PumpError
from support import SkipTest, raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

# a battery reading in mV: physically 2000..3700, rails at 0 (open divider) and 6600 (pin at 3.3 V x 2)
LO, HI, OPEN_LO, OPEN_HI = 2000, 3700, 50, 6500
STUCK_N, WINDOW, NOISE_MAX = 16, 16, 8


def _check(**kw):
    args = {"stuck_n": STUCK_N, "noise_window": WINDOW, "noise_max": NOISE_MAX}
    args.update(kw)
    return sf.SensorCheck(LO, HI, OPEN_LO, OPEN_HI, args["stuck_n"], args["noise_window"], args["noise_max"],
                          args.get("clear_n", 0))


class _Noise:
    """Deterministic Gaussian-ish integer noise: sum of 12 uniforms (Irwin-Hall), scaled to sigma, rounded."""

    def __init__(self, sigma, seed=7):
        self.sigma = sigma
        self.x = seed

    def _u(self):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return self.x / 2147483648.0

    def __call__(self):
        s = 0.0
        for _ in range(12):
            s += self._u()
        return int(round((s - 6.0) * self.sigma))  # noqa: RUF046 - MicroPython's round() of a float


def _healthy(check, n, base=3000, sigma=2, moving=True, seed=7):
    noise = _Noise(sigma, seed)
    faults = 0
    for _ in range(n):
        if check.sample(base + noise(), moving):
            faults += 1
    return faults


def test_open_is_reported_at_the_second_sample():
    c = _check()
    _healthy(c, 40)
    assert c.sample(0, True) == sf.FAULT_NONE
    assert c.sample(3, True) == sf.FAULT_OPEN
    c = _check()
    _healthy(c, 40)
    assert c.sample(6600, True) == sf.FAULT_NONE
    assert c.sample(6500, False) == sf.FAULT_OPEN


def test_out_of_range_is_reported_at_the_second_sample():
    c = _check()
    _healthy(c, 40)
    assert c.sample(1999, True) == sf.FAULT_NONE
    assert c.sample(4000, True) == sf.FAULT_OUT_OF_RANGE
    c = _check()
    _healthy(c, 40)
    assert c.sample(6500, True) == sf.FAULT_NONE  # a rail sample is outside the range too
    assert c.sample(3800, True) == sf.FAULT_OUT_OF_RANGE


def test_a_single_glitch_is_no_fault():
    c = _check()
    _healthy(c, 40)
    for glitch in (0, 6600, 1000, 5000, 3000 + 4 * NOISE_MAX * 3):
        assert c.sample(glitch, True) == sf.FAULT_NONE
        assert _healthy(c, 40, seed=glitch + 1) == 0


def test_stuck_is_reported_at_the_stuck_n_th_identical_sample_while_moving():
    c = _check()
    _healthy(c, 40)
    got = [c.sample(3010, True) for _ in range(STUCK_N)]
    assert got == [sf.FAULT_NONE] * (STUCK_N - 1) + [sf.FAULT_STUCK]


def test_samples_at_rest_neither_count_nor_break_a_stuck_run():
    c = _check()
    _healthy(c, 40)
    for _ in range(100):
        assert c.sample(3010, False) == sf.FAULT_NONE  # a steady value at rest is fine
    got = [c.sample(3010, i % 2 == 0) for i in range(2 * STUCK_N - 1)]
    assert got.index(sf.FAULT_STUCK) == 2 * STUCK_N - 2  # the STUCK_N-th moving sample
    c = _check()
    _healthy(c, 40)
    for _ in range(STUCK_N - 1):
        c.sample(3010, True)
    c.sample(3011, False)  # the value changed: the run is broken
    assert [c.sample(3011, True) for _ in range(STUCK_N - 1)][-1] == sf.FAULT_NONE
    assert c.sample(3011, True) == sf.FAULT_STUCK


def test_noisy_is_reported_within_the_window():
    c = _check()
    _healthy(c, 100)  # sigma 2: mean |diff| about 2.3, far below 8
    got = []
    for i in range(WINDOW):
        got.append(c.sample(3000 + (NOISE_MAX + 1 if i % 2 == 0 else 0), True))  # every difference 9 > 8
    assert got[-1] == sf.FAULT_NOISY
    assert got.index(sf.FAULT_NOISY) >= WINDOW // 2  # not before the window holds mostly noisy differences


def test_fault_clears_only_after_a_run_of_good_samples():
    c = _check(clear_n=10)
    _healthy(c, 40)
    c.sample(0, True)
    assert c.sample(0, True) == sf.FAULT_OPEN
    assert c.sample(3000, True) == sf.FAULT_OPEN
    for _ in range(8):
        assert c.sample(3001, True) == sf.FAULT_OPEN
    assert c.sample(0, True) == sf.FAULT_OPEN  # one bad sample restarts the run
    got = [c.sample(3000 + (i % 3), True) for i in range(10)]
    assert got == [sf.FAULT_OPEN] * 9 + [sf.FAULT_NONE]


def test_no_false_fault_from_noise_with_stuck_n_from_the_noise_model():
    # sigma = 2: q = 0.2, sixteen equal readings in a row about 7e-12 per sample: none in 50000
    assert _healthy(_check(), 50000) == 0
    assert _healthy(_check(), 50000, moving=False, seed=99) == 0
    # the same noise with a careless stuck_n = 4 (0.2^3 = 8e-3 per sample) does fault: the noise model matters
    assert _healthy(_check(stuck_n=4), 5000) > 0


def test_bad_parameters_are_refused():
    bad = (({"stuck_n": 1}, "stuck_n"), ({"noise_window": 8}, "noise_window"), ({"noise_max": 0}, "noise_max"))
    for kw, key in bad:
        with raises(PumpError) as e:
            _check(**kw)
        assert (e.value.code, e.value.detail) == (E_RANGE, key)
    with raises(PumpError) as e:
        sf.SensorCheck(10, 5, 0, 20, 16, 16, 8)
    assert e.value.detail == "lo"


def test_reset_forgets_everything():
    c = _check()
    c.sample(0, True)
    c.sample(0, True)
    assert c.fault == sf.FAULT_OPEN
    c.reset()
    assert c.fault == sf.FAULT_NONE
    assert _healthy(c, 100) == 0


# noise, both rails, a stuck run and out-of-range readings: every path of `sample` for the heap-lock tests
LOCK_VALUES = [3000 + (i * 7919) % 13 - 6 for i in range(500)] + [0, 0, 3000] + [3005] * 20 + [6600, 2500, 1000]


def _faults_under_heap_lock(c, jumps=None):
    """Every LOCK_VALUES reading through `c.sample` (and, with `jumps`, the pair around a burst of that jump, burst
    sizes 1 to 3) under heap_lock; the faults reported."""
    try:
        import micropython
    except ImportError:
        raise SkipTest("no heap lock on CPython")
    values = LOCK_VALUES
    faults = 0
    i = 0
    n = len(values)
    micropython.heap_lock()
    try:
        while i < n:
            v = values[i]
            if c.sample(v, True):
                faults += 1
            if jumps is not None and c.pair(v, v + jumps[i], 1 + (i >> 8)):
                faults += 1
            i += 1
    finally:
        micropython.heap_unlock()
    return faults


def test_sample_allocates_nothing():
    c = _check()
    _healthy(c, 40)
    assert _faults_under_heap_lock(c) > 0


def test_parameter_edges():
    sf.SensorCheck(LO, LO, OPEN_LO, OPEN_HI, 2, 9, 1)  # lo == hi, the smallest stuck_n, noise_window, noise_max
    for args in ((OPEN_LO, HI, OPEN_LO, OPEN_HI), (LO, OPEN_HI, OPEN_LO, OPEN_HI), (HI, LO, OPEN_LO, OPEN_HI)):
        with raises(PumpError) as e:
            sf.SensorCheck(*(args + (STUCK_N, WINDOW, NOISE_MAX)))
        assert (e.value.code, e.value.detail) == (E_RANGE, "lo")


def test_the_range_and_rail_limits_themselves():
    c = _check()
    for v in [LO] * 20 + [HI] * 20:
        assert c.sample(v, False) == sf.FAULT_NONE  # lo and hi are plausible readings
    for rail in (OPEN_LO, OPEN_HI):
        c = _check()
        assert [c.sample(rail, True) for _ in range(2)] == [sf.FAULT_NONE, sf.FAULT_OPEN]


def test_a_fresh_check_needs_two_bad_samples_too():
    c = _check()
    assert [c.sample(0, True) for _ in range(2)] == [sf.FAULT_NONE, sf.FAULT_OPEN]
    c = _check()
    assert [c.sample(1000, True) for _ in range(2)] == [sf.FAULT_NONE, sf.FAULT_OUT_OF_RANGE]


def test_mixed_bad_samples():
    c = _check()
    _healthy(c, 40)
    assert c.sample(1000, True) == sf.FAULT_NONE
    assert c.sample(0, True) == sf.FAULT_OUT_OF_RANGE  # a rail is out of range too: two bad samples in a row
    c = _check()
    _healthy(c, 40)
    assert [c.sample(v, True) for v in (0, 1000, 0)] == [sf.FAULT_NONE] + [sf.FAULT_OUT_OF_RANGE] * 2
    assert c.sample(0, True) == sf.FAULT_OPEN  # only now two rail samples in a row


def test_stuck_counts_moving_samples_from_the_very_first():
    c = _check()
    got = [c.sample(3010, True) for _ in range(STUCK_N)]
    assert got == [sf.FAULT_NONE] * (STUCK_N - 1) + [sf.FAULT_STUCK]
    c = _check()
    assert c.sample(3010, False) == sf.FAULT_NONE  # at rest: not counted
    got = [c.sample(3010, True) for _ in range(STUCK_N)]
    assert got == [sf.FAULT_NONE] * (STUCK_N - 1) + [sf.FAULT_STUCK]
    c = _check()
    _healthy(c, 40)
    c.sample(3020, False)  # a new value at rest starts no run either
    got = [c.sample(3020, True) for _ in range(STUCK_N)]
    assert got == [sf.FAULT_NONE] * (STUCK_N - 1) + [sf.FAULT_STUCK]


def test_noisy_means_a_mean_difference_above_noise_max_not_equal_to_it():
    c = _check()
    c.sample(3000, False)
    c.sample(3000, False)  # a zero difference first
    v = 3000
    for _ in range(5 * WINDOW):  # every difference exactly NOISE_MAX: the mean equals it, not noisy
        v = 3000 + NOISE_MAX if v == 3000 else 3000
        assert c.sample(v, False) == sf.FAULT_NONE
    got = c.sample(v + NOISE_MAX + 1 if v == 3000 else v - NOISE_MAX - 1, False)
    assert got == sf.FAULT_NOISY  # one difference of NOISE_MAX + 1: the mean is just above


def test_a_fault_clears_after_noise_window_good_samples_by_default():
    c = sf.SensorCheck(LO, HI, OPEN_LO, OPEN_HI, STUCK_N, WINDOW, NOISE_MAX)
    c.sample(0, True)
    assert c.sample(0, True) == sf.FAULT_OPEN
    got = [c.sample(3000 + (i % 3), True) for i in range(WINDOW)]
    assert got == [sf.FAULT_OPEN] * (WINDOW - 1) + [sf.FAULT_NONE]


def test_one_out_of_range_sample_restarts_the_clearing_run():
    c = _check(clear_n=10)
    c.sample(0, True)
    c.sample(0, True)
    for i in range(9):
        assert c.sample(3000 + (i % 3), True) == sf.FAULT_OPEN
    assert c.sample(1000, True) == sf.FAULT_OPEN  # out of range, not a rail: still no good sample
    got = [c.sample(3000 + (i % 3), True) for i in range(10)]
    assert got == [sf.FAULT_OPEN] * 9 + [sf.FAULT_NONE]


# ---- paired: noise judged on two readings taken close together (the pressure around each burst) ----

# the residuals before 18 bursts at 0.1 mL/day (2.9 min apart) in the soak, seed 1, day 31: two posture episodes
# (+2.9 and +3.2 kPa) on breathing and pulse; the successive-difference rule took them for noise
SOAK_RESIDUALS = (12, 12, 14, 10, 11, 43, 39, 11, 15, 12, 7, 13, 16, 12, 13, 12, 8, 43)
P_ARGS = (1, 999, 0, 1000, 32, 16, 8, 4)  # pump.safety's pressure check
JUMP = 12  # counts per step (1.25 kPa at the default compliance, rounded down)


def _paired(**kw):
    return _check(**kw) if kw else sf.SensorCheck(LO, HI, OPEN_LO, OPEN_HI, STUCK_N, WINDOW, NOISE_MAX, 0, True)


def _bursts(check, residuals, jumps, key=1):
    """One burst per residual: sample the residual, then the pair (residual, residual + jump); the faults seen."""
    got = []
    for r, j in zip(residuals, jumps):
        got.append(check.sample(r, True))
        got.append(check.pair(r, r + j, key))
    return got


def _healthy_jumps(n, seed=3):
    noise = _Noise(1, seed)  # the peak and the residual each carry the sensor's noise: the jump moves by ~1 count
    return [JUMP + noise() for _ in range(n)]


def test_the_soak_posture_sequence_is_no_noise_for_the_paired_check():
    old = sf.SensorCheck(*P_ARGS)
    assert [old.sample(r, True) for r in SOAK_RESIDUALS][-1] == sf.FAULT_NOISY  # the false fault, reproduced
    new = sf.SensorCheck(*(P_ARGS + (True,)))
    for _ in range(20):  # the same posture changes again and again: never noise
        assert set(_bursts(new, SOAK_RESIDUALS, _healthy_jumps(len(SOAK_RESIDUALS)))) == {sf.FAULT_NONE}


def test_paired_noisy_is_reported_within_the_window():
    c = _paired()
    noise = _Noise(2)
    residuals = [3000 + noise() for _ in range(100)]
    assert set(_bursts(c, residuals, _healthy_jumps(100))) == {sf.FAULT_NONE}
    jumps = [JUMP + (NOISE_MAX + 1 if i % 2 == 0 else 0) for i in range(WINDOW)]  # every change 9 > 8
    got = _bursts(c, [3000 + (i * 37) % 200 for i in range(WINDOW)], jumps)[1::2]  # what each pair returned
    assert got[-1] == sf.FAULT_NOISY  # at the WINDOW-th noisy burst, whatever the residuals do
    assert got.index(sf.FAULT_NOISY) >= WINDOW // 2


def test_paired_noisy_means_a_mean_change_above_noise_max_not_equal_to_it():
    c = _paired()
    c.pair(3000, 3000 + JUMP, 1)
    c.pair(3000, 3000 + JUMP, 1)  # a zero change first
    j = JUMP
    for _ in range(5 * WINDOW):  # every change exactly NOISE_MAX: the mean equals it, not noisy
        j = JUMP + NOISE_MAX if j == JUMP else JUMP
        assert c.pair(3000, 3000 + j, 1) == sf.FAULT_NONE
    j = j + NOISE_MAX + 1 if j == JUMP else j - NOISE_MAX - 1
    assert c.pair(3000, 3000 + j, 1) == sf.FAULT_NOISY  # one change of NOISE_MAX + 1: the mean is just above


def test_a_pair_is_compared_with_the_last_good_pair_of_the_same_key():
    c = _paired()
    for _ in range(5 * WINDOW):  # bursts of 1 and 3 steps in turn: jumps of 12 and 36 are no noise
        assert c.pair(3000, 3000 + JUMP, 1) == sf.FAULT_NONE
        assert c.pair(3000, 3000 + 3 * JUMP, 3) == sf.FAULT_NONE
    assert c._sum == 0
    for bad in ((0, 3000), (3000, 6600), (1000, 3000), (3000, 5000)):  # a rail or out-of-range reading: left out
        assert c.pair(*bad, 3) == sf.FAULT_NONE
    assert c._sum == 0
    assert c.pair(3100, 3100 + 3 * JUMP + 5, 3) == sf.FAULT_NONE  # compared with the last good pair of 3 steps
    assert c._sum == 5


def test_a_single_glitch_in_a_pair_is_no_fault():
    c = _paired()
    residuals = [3000 + i % 5 for i in range(40)]
    assert set(_bursts(c, residuals, _healthy_jumps(40))) == {sf.FAULT_NONE}
    glitch = 4 * NOISE_MAX * 3
    assert c.pair(3000, 3000 + JUMP + glitch, 1) == sf.FAULT_NONE
    assert c.pair(3001, 3001 + JUMP, 1) == sf.FAULT_NONE
    assert c._sum >= 2 * 4 * NOISE_MAX  # the glitch counted twice, each change clamped to 4 x NOISE_MAX
    assert set(_bursts(c, residuals, _healthy_jumps(40, seed=5))) == {sf.FAULT_NONE}


def test_paired_samples_still_check_range_rail_and_stuck_but_not_noise():
    c = _paired()
    got = [c.sample(3000 + (NOISE_MAX * 4 if i % 2 else 0), True) for i in range(5 * WINDOW)]
    assert set(got) == {sf.FAULT_NONE}  # readings 32 apart: noise only from the pairs
    assert [c.sample(3010, True) for _ in range(STUCK_N)][-1] == sf.FAULT_STUCK
    c = _paired()
    assert [c.sample(0, True) for _ in range(2)] == [sf.FAULT_NONE, sf.FAULT_OPEN]
    c = _paired()
    assert [c.sample(1000, True) for _ in range(2)] == [sf.FAULT_NONE, sf.FAULT_OUT_OF_RANGE]
    assert c.pair(3000, 3000 + JUMP, 1) == sf.FAULT_OUT_OF_RANGE  # a pair reports the fault in force
    c = _check()
    for i in range(5 * WINDOW):  # an unpaired check ignores pairs
        assert c.pair(3000, 3000 + (NOISE_MAX * 4 if i % 2 else 0), 1) == sf.FAULT_NONE
    assert c._sum == 0


def test_a_noisy_pair_outranks_nothing_and_reset_forgets_the_last_pair():
    c = _paired()
    for _ in range(STUCK_N):
        c.sample(3010, True)
    assert c.fault == sf.FAULT_STUCK
    for i in range(WINDOW):
        assert c.pair(3010, 3010 + JUMP + (NOISE_MAX * 4 if i % 2 else 0), 1) == sf.FAULT_STUCK  # stuck first
    c.reset()
    assert c.pair(3000, 3000 + JUMP + 100, 1) == sf.FAULT_NONE and c._sum == 0  # nothing to compare with


def test_pair_allocates_nothing():
    jumps = [JUMP + (i * 31) % 5 for i in range(300)] + [JUMP + (NOISE_MAX * 3 if i % 2 else 0) for i in range(250)]
    assert _faults_under_heap_lock(_paired(), jumps) > 0


def test_paired_readings_at_the_range_ends_are_judged():
    big = 2 * NOISE_MAX  # pairs alternating a difference of 0 and 2 x noise_max: every change is noise
    for zero, wide in (((LO, LO), (LO, LO + big)), ((HI, HI), (HI - big, HI))):
        c = _paired()
        got = []
        for i in range(2 * WINDOW):
            got.append(c.pair(*(zero if i % 2 else wide), 1))
        assert sf.FAULT_NOISY in got, (zero, wide)


def test_a_paired_noise_fault_clears_after_clear_n_good_samples():
    c = _paired()
    for i in range(2 * WINDOW):
        c.pair(3000, 3000 + (2 * NOISE_MAX if i % 2 else 0), 1)
    assert c.fault == sf.FAULT_NOISY
    for _ in range(WINDOW + 1):  # steady pairs: the changes leave the window, the fault stays latched
        assert c.pair(3000, 3000 + JUMP, 1) == sf.FAULT_NOISY
    for i in range(WINDOW - 1):  # clear_n (the window) good samples clear it, not one fewer
        assert c.sample(3000 + i % 3, True) == sf.FAULT_NOISY, i
    assert c.sample(3001, True) == sf.FAULT_NONE


def test_after_a_reset_the_first_pair_is_compared_with_nothing():
    c = _paired()
    c.pair(3000, 3000 + JUMP, 0)
    c.reset()
    # then changes of exactly noise_max in every later pair: at the limit, not above it, with the first pair left out
    for i in range(WINDOW + 1):
        assert c.pair(3000, 3000 + 8 * NOISE_MAX + (NOISE_MAX if i % 2 else 0), 0) == sf.FAULT_NONE, i
