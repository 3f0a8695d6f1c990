"""The soak's dose invariant (verify/soak.py): the drug mass that left the catheter tip in any 24 h is at most what
the programs in force allow in those 24 h.

Mass: the plant's truth (board.sim.Plant.pushed_pg), each drug at its real strength in the order the line holds
them, counted as the mechanism moves the line (the compliance's few hundred nL that CSF waves and posture hold back
and release are the same drug a moment later, not dosing; a volume backed off and pushed again counts once).

Allowance of the window (t - 24 h, t], in drug mass, whatever the strengths:
- the programs in force: for each stretch of L ms of the window under one program, the most drug any L ms of that
  program's week holds (basal and periodic boluses; tools.sim.reference.Program.heaviest_ng), summed over the stretches;
  one program over the whole window allows its heaviest 24 h. Suspends, holds and clock corrections allow nothing
  more (the schedule phases in after a correction: docs/safety.md);
- patient boluses: each granted one, its dose times the part of its run inside the window, in all at most the
  program's daily maximum of doses (the most a patient may have in 24 h);
- clinician boluses: each granted one, its dose times the part of its run inside the window;
- priming: the drug in the volume primed (whole steps), at the strengths it pushes out of the tip, for any window
  the priming overlaps.
Tolerance: one step of the strongest drug, plus the 1 ms by which a step may fire early (under 0.003 steps at the
priming rate): the dose arithmetic keeps the delivered steps within a step behind and 1 ms ahead of the exact
integral, at both ends of a window.

Checked at every wake-up and after every event, for the window ending then: the steps move only at those instants,
so every set of steps a 24 h window can hold is checked in the window ending at its last step.
"""

import collections

from tools.sim.reference import DAY_MS, Program

_PRUNE_MS = 600000  # a stretch's allowance is first tried rounded down to 10 min (cached), exactly only if needed


class DoseLedger:
    """Program changes, granted boluses and priming by pump time (ms), and the mass out of the tip at each instant;
    `check(t, pg)` returns what the window ending at t holds beyond its allowance and the tolerance (pg), or 0."""

    def __init__(self, t_ms, prescription, tolerance_pg):
        self.tolerance_pg = tolerance_pg
        self.programs = collections.deque([(t_ms, Program(prescription))])
        self.boluses = []  # [start ms, end ms, dose pg, patient?]
        self.primes = []  # [start ms, end ms (None while priming), pg]
        self.marks = collections.deque([(t_ms, 0)])  # (t, mass out so far): the oldest is at or before t - 24 h
        self.max_over_pg = None  # the most a window's mass came above its allowance (below it: negative)
        self._heaviest = {}

    # ---- what happens ----
    def program(self, t_ms, prescription):
        self.programs.append((t_ms, Program(prescription)))

    def bolus(self, t_ms, dose_ug, duration_ms, patient):
        self.boluses.append([t_ms, t_ms + duration_ms, round(dose_ug * 1000000), patient])

    def prime(self, t_ms, pg):
        self.primes.append([t_ms, None, pg])

    def primed(self, t_ms):
        """Priming ended (done, suspended or cancelled)."""
        for p in self.primes:
            if p[1] is None:
                p[1] = t_ms

    # ---- the check ----
    def check(self, t_ms, mass_pg):
        marks = self.marks
        if marks[-1][0] == t_ms:
            marks[-1] = (t_ms, mass_pg)
        else:
            marks.append((t_ms, mass_pg))
        start = t_ms - DAY_MS
        while len(marks) > 1 and marks[1][0] <= start:
            marks.popleft()
        self._forget(start)
        mass = mass_pg - marks[0][1]
        if mass <= self.tolerance_pg:
            return 0
        over = mass - self._allowance(start, t_ms, True)
        if over > self.tolerance_pg:
            over = mass - self._allowance(start, t_ms, False)
        if self.max_over_pg is None or over > self.max_over_pg:
            self.max_over_pg = over
        return over - self.tolerance_pg if over > self.tolerance_pg else 0

    def _forget(self, start):
        programs = self.programs
        while len(programs) > 1 and programs[1][0] <= start:
            programs.popleft()
        if self.boluses and self.boluses[0][1] <= start:
            self.boluses = [b for b in self.boluses if b[1] > start]
        if self.primes and self.primes[0][1] is not None and self.primes[0][1] <= start:
            self.primes = [p for p in self.primes if p[1] is None or p[1] > start]

    def allowance_pg(self, t_ms):
        """The allowance of the window ending at t_ms (pg, rounded down), exact."""
        return self._allowance(t_ms - DAY_MS, t_ms, False)

    def _allowance(self, start, end, rounded):
        programs = self.programs
        total = 0
        cap = 0
        for i, (t, prog) in enumerate(programs):
            a = max(t, start)
            b = programs[i + 1][0] if i + 1 < len(programs) else end
            if b > a or len(programs) == 1:
                length = DAY_MS if len(programs) == 1 else b - a
                if rounded:
                    length -= length % _PRUNE_MS
                total += self._heaviest_pg(prog, length)
            if prog.patient is not None:
                cap = max(cap, int(prog.patient[0]) * prog.patient[3] * 1000)
        patient = 0
        for b0, b1, pg, is_patient in self.boluses:
            overlap = min(b1, end) - max(b0, start)
            if overlap > 0:
                part = pg * overlap // (b1 - b0)
                if is_patient:
                    patient += part
                else:
                    total += part
        for p0, p1, pg in self.primes:
            if p0 <= end and (p1 is None or p1 > start):
                total += pg
        return total + min(patient, cap)

    def _heaviest_pg(self, prog, length):
        key = (prog, length)  # (the key holds the program: no other one takes its place)
        v = self._heaviest.get(key)
        if v is None:
            v = int(prog.heaviest_ng(length) * 1000)
            if len(self._heaviest) > 4096:
                self._heaviest.clear()
            self._heaviest[key] = v
        return v
