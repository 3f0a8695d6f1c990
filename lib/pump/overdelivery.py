"""Independent over-delivery monitor: steps actually commanded to the driver, counted in a sliding window of slots.

It never reads the dose plan: the controller passes every forward step it hands to the stepper (`count(now_s, n)`;
the occlusion back-off's reverse steps are not dosing) and, from the active program and the drug library, the most
steps any window may hold (`set_limit`, see `allowed_steps`). Time is the monotonic pump clock in whole seconds
(pump.monoclock): slot i holds the steps of seconds i * slot_s to (i + 1) * slot_s, so any idle time (a suspend or a
hold of weeks) ages the window exactly, and no wall-clock change moves it. The window is a ring of `slots` per-slot
counts; the current slot is partial, so `total` holds the steps of the last (slots - 1) * slot_s to slots * slot_s
seconds, and the limit must be what the program allows in slots * slot_s. Boluses are not in that limit: each one
granted adds its steps to the allowance while it runs (`grant`), and from its end (`release`) for one more window,
so the allowance never lasts longer than its steps count in the window. A new limit (`set_limit` with `now_s`)
allows the steps already in the window until they leave it, so it bounds the new program's own steps. A breach
latches until `clear()`. The contents are checkpointed (`saved`, `restore`): a reset keeps a breach that was building.
`count` is the per-step hot path: small ints in preallocated lists, no allocation.
"""

from pump.compat import const
from pump.errors import E_RANGE, PumpError

_DAY_MS = const(86400000)


def allowed_steps(max_nl_per_day, nl_per_step, window_ms, late_ms=1000):
    """Most forward steps a window of `window_ms` can hold when the volume rate never exceeds max_nl_per_day.

    A step fires at the whole ms at or before its exact time, never earlier, so the steps due inside a window of L ms
    are at most floor(rate * L / nl_per_step) + 1. A step handed to the driver up to `late_ms` after it fell due (a
    busy dosing task) may land in the window too: those are added.
    """
    for name, value, lowest in (("max_nl_per_day", max_nl_per_day, 0), ("nl_per_step", nl_per_step, 1),
                                ("window_ms", window_ms, 1), ("late_ms", late_ms, 0)):
        if value < lowest:
            raise PumpError(E_RANGE, name)
    return max_nl_per_day * (window_ms + late_ms) // (_DAY_MS * nl_per_step) + 1


class OverDeliveryMonitor:
    """Steps in a sliding window of slots x slot_s seconds; `breached` latches once `total` exceeds the limit."""

    def __init__(self, slot_s, slots, now_s=0):
        """`now_s`: the monotonic second the window starts at (empty)."""
        if slot_s < 1 or slots < 2 or slot_s * slots > 1073741:
            raise PumpError(E_RANGE, "slot_s")  # at most 12.4 days: window_ms stays a small int
        self.slot_s = slot_s
        self.slots = slots
        self.window_ms = slot_s * slots * 1000
        self.limit = -1  # no limit until set_limit
        self.pending = 0  # steps of the boluses running now
        self._ring = [0] * slots
        self._allow = [0] * slots  # steps of the boluses that ended in each slot
        self.clear(now_s)

    def clear(self, now_s):
        """Empty the window and unlatch (after the clinician dealt with the breach)."""
        ring = self._ring
        allow = self._allow
        for i in range(self.slots):
            ring[i] = 0
            allow[i] = 0
        self._head = 0
        self._head_slot = now_s // self.slot_s
        self.total = 0
        self.breached = False
        self._update()

    def _update(self):
        """The most steps the window may hold now: the program's limit plus the boluses' allowance."""
        self.cap = -1 if self.limit < 0 else min(self.limit + self.pending + sum(self._allow), 0x3FFFFFFF)

    def grant(self, steps):
        """A bolus of `steps` starts (cold path)."""
        self.pending += steps
        self._update()

    def release(self, now_s, steps):
        """A granted bolus ended (done or cancelled): its allowance stays one more window, for its last steps."""
        self.count(now_s, 0)
        steps = min(steps, self.pending)
        self.pending -= steps
        self._allow[self._head] += steps
        self._update()

    def set_limit(self, max_steps, now_s=None):
        """The most steps the active program permits in slots x slot_s, boluses aside; -1 disables the check (no
        program). With `now_s`, a new limit applies to the steps from now on: each step the window already holds (the
        old program's, a bolus's) stays allowed until it leaves the window, slot by slot. A window straddling the
        change holds the old program's steps plus at most the new limit: a bound on either alone is no bound on the
        mix (a heavier program from the hours where the old one ran faster than the new one does)."""
        if type(max_steps) is not int or max_steps < -1 or max_steps > 0x3FFFFFFF:
            raise PumpError(E_RANGE, "max_steps")
        if now_s is not None and max_steps != self.limit:
            self.count(now_s, 0)
            ring = self._ring
            allow = self._allow
            for i in range(self.slots):
                allow[i] = ring[i]  # covers the ended boluses' allowances too: their steps are in the ring
        self.limit = max_steps
        self._update()
        if self.cap >= 0 and self.total > self.cap:
            self.breached = True

    def count(self, now_s, steps):
        """Account `steps` commanded at monotonic second `now_s` (0 just moves the window); returns `breached`."""
        slot = now_s // self.slot_s
        if slot > self._head_slot:
            self._advance(slot - self._head_slot)
            self._head_slot = slot
        self._ring[self._head] += steps  # (a monotonic clock never gives an earlier slot: it would count in the head)
        self.total += steps
        if self.total > self.cap >= 0:
            self.breached = True
        return self.breached

    def _advance(self, k):
        ring = self._ring
        allow = self._allow
        n = self.slots
        if k >= n:  # idle for a window or more (a weekend, a month): everything left it
            for i in range(n):
                ring[i] = 0
                allow[i] = 0
            self.total = 0
            self._update()
            return
        head = self._head
        total = self.total
        aged = 0
        while k > 0:
            head += 1
            if head == n:
                head = 0
            total -= ring[head]
            ring[head] = 0
            aged += allow[head]
            allow[head] = 0
            k -= 1
        self._head = head
        self.total = total
        if aged:
            self._update()

    # ---- across a reset (cold path) ----
    def saved(self):
        """(head slot, pending, limit, counts, allowances), oldest slot first: what the checkpoint keeps."""
        n = self.slots
        order = [(self._head + 1 + i) % n for i in range(n)]
        counts = [self._ring[i] for i in order]
        return self._head_slot, self.pending, self.limit, counts, [self._allow[i] for i in order]

    def restore(self, head_slot, pending, limit, counts, allowances, now_s):
        """The window as checkpointed, then moved to `now_s`. Its limit is the one its steps were counted against
        (the controller then sets the program's with `now_s`: a program saved after this checkpoint phases in). The
        boluses that were running are not resumed after a reset: their allowance stays from the checkpoint's slot for
        one more window, as a release there (their steps after it were lost with the reset).
        A record for another window size or from the future (a corrupt one) leaves the window empty."""
        n = self.slots
        if (len(counts) != n or len(allowances) != n or head_slot > now_s // self.slot_s or pending < 0
                or not -1 <= limit <= 0x3FFFFFFF):
            return False
        for i in range(n):
            self._ring[i] = counts[i]
            self._allow[i] = allowances[i]
        self._head = n - 1
        self._head_slot = head_slot
        self.total = sum(counts)
        self._allow[n - 1] += pending  # released as of the checkpoint: the steps after it were lost with the reset
        self.limit = limit
        self.pending = 0
        self.breached = False
        self._update()
        self.count(now_s, 0)
        return True
