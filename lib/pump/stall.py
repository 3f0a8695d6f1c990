"""Motor stall / mechanism check: encoder counts seen against steps commanded, and the driver's StallGuard flag.

Steps are judged in tumbling windows of at least `window_steps` commanded steps (whole bursts): the window fails when
the encoder counted fewer than min_ratio_pct % of the counts the steps should give. A complete jam is therefore seen
after at most 2 * window_steps - ceil(window_steps * min_ratio_pct / 100) commanded steps (12 with the defaults),
plus the rest of the burst in progress; a slipping mechanism that moves less than min_ratio_pct % is seen within
two windows. A TMC2209 DIAG (StallGuard) pulse, reported by `diag()`, latches at once. `stalled` stays latched until
`reset()` (a clinician command after the mechanism was checked). Small ints only, no allocation.
"""

from pump.compat import const
from pump.errors import E_RANGE, PumpError

CAUSE_NONE = const(0)
CAUSE_ENCODER = const(1)
CAUSE_DIAG = const(2)


class StallCheck:
    """`counts_per_step` encoder counts per motor step (or 1 count per `steps_per_count` steps for a coarse
    encoder; then window_steps should be >= 4 * steps_per_count so count quantization cannot fake a stall)."""

    def __init__(self, counts_per_step, min_ratio_pct=50, window_steps=8, steps_per_count=1):
        if counts_per_step < 1 or (counts_per_step > 1 and steps_per_count > 1):
            raise PumpError(E_RANGE, "counts_per_step")
        if steps_per_count < 1:
            raise PumpError(E_RANGE, "steps_per_count")
        if not 0 < min_ratio_pct <= 100:
            raise PumpError(E_RANGE, "min_ratio_pct")
        if window_steps < 1:
            raise PumpError(E_RANGE, "window_steps")
        self.counts_per_step = counts_per_step
        self.steps_per_count = steps_per_count
        self.min_ratio_pct = min_ratio_pct
        self.window_steps = window_steps
        self.reset()

    def reset(self):
        self.stalled = False
        self.cause = CAUSE_NONE
        self.windows = 0  # windows judged since reset
        self._cmd = 0
        self._cnt = 0

    def steps(self, commanded, counted):
        """After a burst: `commanded` steps sent, `counted` encoder counts seen meanwhile. Returns `stalled`."""
        self._cmd += commanded
        self._cnt += counted
        cmd = self._cmd
        if cmd >= self.window_steps:
            # counted / expected < min_ratio_pct / 100, expected = cmd * counts_per_step / steps_per_count
            if self._cnt * self.steps_per_count * 100 < cmd * self.counts_per_step * self.min_ratio_pct:
                self._latch(CAUSE_ENCODER)
            self._cmd = 0
            self._cnt = 0
            self.windows += 1
        return self.stalled

    def diag(self):
        """The driver's DIAG output fired (StallGuard or a driver fault): latch. Returns `stalled` (True)."""
        self._latch(CAUSE_DIAG)
        return True

    def _latch(self, cause):
        if not self.stalled:
            self.stalled = True
            self.cause = cause
