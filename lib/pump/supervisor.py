"""Watchdog policy: the hardware watchdog is fed only while every registered critical task checks in on time.

Each task registers with the longest silence it may keep (`max_silence_ms`, well above its own wake-up period) and
calls `checkin(task_id, now)` every time round its loop; the feeder calls `healthy(now)` and feeds only on True. A
task that stops (an unhandled exception, a deadlock, a loop that never yields) thus lets the watchdog reset the board.
A task that never checked in counts as silent; with no task registered the board is healthy. `checkin`, `healthy`
and `overdue` allocate nothing.
"""

from pump.compat import const, ticks_diff
from pump.errors import E_RANGE, PumpError

MAX_TASKS = const(16)  # task ids 0..15
_HORIZON_MS = const(0x20000000)  # ticks_diff horizon: a silence must be far shorter


class Supervisor:
    def __init__(self):
        self._max_ms = [0] * MAX_TASKS  # 0: not registered
        self._last = [0] * MAX_TASKS
        self._seen = bytearray(MAX_TASKS)
        self.registered = 0  # bitmap of registered task ids

    def register(self, task_id, max_silence_ms, now=None):
        """Watch task `task_id`; with `now` that counts as its first check-in."""
        if type(task_id) is not int or not 0 <= task_id < MAX_TASKS:
            raise PumpError(E_RANGE, "task_id")
        if type(max_silence_ms) is not int or not 0 < max_silence_ms < _HORIZON_MS // 2:
            raise PumpError(E_RANGE, "max_silence_ms")
        self._max_ms[task_id] = max_silence_ms
        self._seen[task_id] = 0
        self.registered |= 1 << task_id
        if now is not None:
            self.checkin(task_id, now)

    def unregister(self, task_id):
        """Stop watching a task that ended on purpose."""
        if 0 <= task_id < MAX_TASKS:
            self._max_ms[task_id] = 0
            self.registered &= ~(1 << task_id)

    def checkin(self, task_id, now):
        """Task `task_id` is alive at ticks `now`."""
        self._last[task_id] = now
        self._seen[task_id] = 1

    def overdue(self, now):
        """The first registered task silent for longer than its window (or never seen), else -1."""
        max_ms = self._max_ms
        last = self._last
        seen = self._seen
        for i in range(MAX_TASKS):
            m = max_ms[i]
            if m:
                if not seen[i]:
                    return i
                age = ticks_diff(now, last[i])
                if age > m or age < -m:  # a check-in a whole window in the future: a corrupted time
                    return i
        return -1

    def healthy(self, now):
        """True only when every registered task checked in within its window."""
        return self.overdue(now) < 0
