"""Sensor plausibility: out-of-range, open (at a rail), stuck and noisy readings of one raw integer sensor value.

Detection bounds, in samples (`sample` calls) or pairs (`pair` calls), for a fault present from a given one on:

| fault | reported at | when |
| --- | --- | --- |
| FAULT_OPEN | the 2nd sample | value <= open_lo or >= open_hi (a rail: open wire, short), 2 samples in a row |
| FAULT_OUT_OF_RANGE | the 2nd sample | value < lo or > hi (physically impossible), 2 samples in a row |
| FAULT_STUCK | the stuck_n-th sample | the exact same value in stuck_n samples in a row taken while `moving` |
| FAULT_NOISY | the noise_window-th sample at the latest | every successive difference from the onset on > noise_max |
| FAULT_NOISY, `paired` | the noise_window-th pair at the latest | every change of the pair difference > noise_max |

Noisy means: the mean absolute difference over the last noise_window differences is above noise_max. By default the
differences are those of successive in-range samples: right for a quantity that cannot move much between two samples
(the battery voltage, hourly). A check built `paired` judges noise instead on two readings taken close together, the
`pair(first, second, key)` around one stimulus (for the pressure: the steps of one burst, milliseconds apart): what
the measured quantity does between samples minutes apart (the CSF pressure with posture) cancels within a pair, and
the pair difference (the jump of the burst) repeats from one pair with the same key to the next but for the sensor's
noise. Its changes are the differences then, and `sample` feeds range, rail and stuck only.

A difference counts at most 4 x noise_max and rail or out-of-range samples are left out of the stuck and noise
statistics (a pair with one is left out: the next pair is compared with the last good one), so one glitch reading
adds at most 8 x noise_max to a window that must exceed noise_window x noise_max (noise_window >= 9 is enforced): on
a reading whose own noise stays below (noise_window - 8) / noise_window x noise_max, a single glitch never reports
NOISY.

Precedence when several hold: open, out of range, stuck, noisy. A fault stays reported until `clear_n` consecutive
samples show none of them (default: noise_window), so a flickering fault cannot flap.

Choosing stuck_n from the noise model: a healthy reading with Gaussian noise of sigma units (sigma >= 1) takes any
one value with probability at most q ~ 1 / (sqrt(2 * pi) * sigma), so stuck_n identical readings in a row happen with
probability at most q^(stuck_n - 1) per sample. Sigma = 2 gives q = 0.2; stuck_n = 16 gives at most 3e-11 per sample
(7e-12 exactly), under 1e-3 false faults a year at one sample a second. A reading with sigma < 1 unit (a coarse
scale) repeats legitimately: then `moving` must mean the quantity really changes by several units per sample, or the
check should run on a finer (rawer) value.
"""

from pump.compat import const
from pump.errors import E_RANGE, PumpError

FAULT_NONE = const(0)
FAULT_OUT_OF_RANGE = const(1)
FAULT_OPEN = const(2)
FAULT_STUCK = const(3)
FAULT_NOISY = const(4)
FAULT_NAMES = ("none", "out of range", "open", "stuck", "noisy")

_CONFIRM_N = const(2)  # consecutive samples for open and out of range
_DIFF_CLAMP = const(4)  # one difference counts at most this many noise_max


class SensorCheck:
    """Plausibility of one sensor; `sample(value, moving)` and, `paired`, `pair(first, second, key)` -> FAULT_*
    (allocation-free)."""

    def __init__(self, lo, hi, open_lo, open_hi, stuck_n, noise_window, noise_max, clear_n=0, paired=False):
        if not (open_lo < lo <= hi < open_hi):
            raise PumpError(E_RANGE, "lo")
        if stuck_n < 2:
            raise PumpError(E_RANGE, "stuck_n")
        if noise_window < 2 * _DIFF_CLAMP + 1:
            raise PumpError(E_RANGE, "noise_window")  # one glitch (two clamped differences) must not trip it
        if noise_max < 1:
            raise PumpError(E_RANGE, "noise_max")
        self.lo = lo
        self.hi = hi
        self.open_lo = open_lo
        self.open_hi = open_hi
        self.stuck_n = stuck_n
        self.noise_window = noise_window
        self.noise_max = noise_max
        self.clear_n = clear_n or noise_window
        self.paired = paired
        self._clamp = noise_max * _DIFF_CLAMP
        self._limit = noise_max * noise_window  # sum of differences above this: noisy
        self._diffs = [0] * noise_window
        self.reset()

    def reset(self):
        self.fault = FAULT_NONE
        self._rail_n = 0
        self._out_n = 0
        self._same_n = 0
        self._last = None
        self._i = 0
        self._sum = 0
        self._good_n = 0
        self._pair_ok = False  # whether _pair_d is a pair difference to compare the next one with
        self._pair_d = 0
        self._pair_key = 0
        diffs = self._diffs
        for i in range(len(diffs)):
            diffs[i] = 0

    def sample(self, value, moving):
        """One reading; `moving`: the measured quantity is expected to change (motor running). Returns the fault."""
        if value <= self.open_lo or value >= self.open_hi:
            self._rail_n += 1
            self._out_n += 1
        elif value < self.lo or value > self.hi:
            self._rail_n = 0
            self._out_n += 1
        else:
            self._rail_n = 0
            self._out_n = 0
            last = self._last
            if last is None:
                self._same_n = 1 if moving else 0
            else:
                d = value - last
                if d == 0:
                    if moving:
                        self._same_n += 1
                else:
                    self._same_n = 1 if moving else 0
                if not self.paired:
                    self._count(d)
            self._last = value
        found = self._found()
        if found:
            self.fault = found
            self._good_n = 0
        elif self._rail_n or self._out_n:
            self._good_n = 0  # a single bad sample is no fault, but not a good sample either
        elif self.fault:
            self._good_n += 1
            if self._good_n >= self.clear_n:
                self.fault = FAULT_NONE
        return self.fault

    def pair(self, first, second, key):
        """Two readings taken close together around one stimulus `key` (a small int: the same key, the same
        stimulus); judges noise on how much their difference changes from the last pair with the same key (`paired`
        checks; range, rail and stuck stay `sample`'s). Returns the fault; good samples are counted by `sample`."""
        if not self.paired or not (self.lo <= first <= self.hi and self.lo <= second <= self.hi):
            return self.fault  # a bad reading: left out, the next pair is compared with the last good one
        d = second - first
        if self._pair_ok and key == self._pair_key:
            self._count(d - self._pair_d)
        self._pair_d = d
        self._pair_key = key
        self._pair_ok = True
        found = self._found()
        if found:
            self.fault = found
            self._good_n = 0
        return self.fault

    def _count(self, d):
        """One difference into the noise window."""
        if d < 0:
            d = -d
        if d > self._clamp:
            d = self._clamp
        i = self._i
        self._sum += d - self._diffs[i]
        self._diffs[i] = d
        self._i = i + 1 if i + 1 < self.noise_window else 0

    def _found(self):
        if self._rail_n >= _CONFIRM_N:
            return FAULT_OPEN
        if self._out_n >= _CONFIRM_N:
            return FAULT_OUT_OF_RANGE
        if self._same_n >= self.stuck_n:
            return FAULT_STUCK
        if self._sum > self._limit:
            return FAULT_NOISY
        return FAULT_NONE
