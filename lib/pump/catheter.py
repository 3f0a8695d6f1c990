"""Catheter contents: the old drugs still between the reservoir's drug and the tip, as a bounded queue of segments.

After a refill with a new strength the catheter still holds the drug it held before, and that reaches the patient
first. The queue holds those old drugs as segments (volume nL, concentration ug/mL), the oldest at the tip; the
reservoir's drug fills the rest of the catheter behind them. `refilled` appends the catheter's part that holds the
reservoir's drug as a new segment before the reservoir's strength changes, so the queue never sums to more than the
catheter volume, however many refills stack up. `moved(nl)` runs for every forward step (the hot path: small ints in
preallocated lists, no allocation) and carries what a step moves past the end of a segment into the next one, so the
queue follows the volume exactly. At most `slots` old segments: when a refill finds the queue full, the newest
segment and the new one become one, at the stronger of the two strengths (and one with the segment before it when
that holds the same strength: no two neighbours ever share one, as `restore` reads them back after a reset). The
pump then paces that whole volume as the stronger drug, so for the weaker part it can only deliver less than
programmed, never more.

The tip can also move back (`back`): the occlusion back-off draws back volume that had left it, and steps the
mechanism did not make (a stall) moved nothing although the plan counted them. The queue remembers the segments
already out of the tip as long as their slots are not reused (`behind`), and once the last one is out it counts the
reservoir's drug after it for MEMORY_NL more, so the tip goes back into the right drug; beyond what it remembers (a
reset forgets it) the drug at the tip takes the volume back.

Volumes must stay below 2**29 nL (the catheter holds at most 5 mL) so that a volume plus a step stays a small int.
"""

from pump.compat import const

SLOTS = const(4)
MEMORY_NL = const(100000)  # the reservoir's drug counted past the last old one's end, for `back`


class Catheter:
    """Old-drug segments, tip first; `n` of them, `old_nl` their total volume left (0: the reservoir's drug only)."""

    def __init__(self, slots=SLOTS):
        self.slots = slots
        self._nl = [0] * slots  # each segment's whole volume; never changed while it drains (see `used_nl`)
        self._conc = [0] * slots
        self.clear()  # head: slot of the segment at the tip; used_nl: volume of it already out of the tip (with no
        # old drug left: of the reservoir's drug since the last one's end, while `behind` remembers it)
        self.merges = 0  # refills that found the queue full (their segment merged with the newest)
        self._kept = [0] * 5  # head, n, used_nl, old_nl, behind as keep() saw them

    def tip_conc(self, reservoir_conc):
        """Concentration (ug/mL) at the tip: the oldest drug left, else the reservoir's."""
        return self._conc[self.head] if self.n else reservoir_conc

    # ---- hot path ----
    def moved(self, nl):
        """`nl` left the tip (one step); True when a segment ended within it (the tip's drug changed)."""
        n = self.n
        if not n:
            if self.behind:  # the reservoir's drug after the last old one: counted a while, for back()
                used = self.used_nl + nl
                if used > MEMORY_NL:
                    self.behind = 0
                    used = 0
                self.used_nl = used
            return False
        vols = self._nl
        h = self.head
        used = self.used_nl + nl
        self.old_nl -= nl
        if used < vols[h]:
            self.used_nl = used
            return False
        slots = self.slots
        behind = self.behind
        while n and used >= vols[h]:
            used -= vols[h]  # what the step moved past the segment's end came out of the next one
            n -= 1
            behind += 1  # out of the tip, remembered while its slot is not reused
            h += 1
            if h == slots:
                h = 0
        if not n:
            self.old_nl = 0  # (used: the reservoir's drug past the last end)
            if used > MEMORY_NL:
                behind = 0
                used = 0
        self.behind = behind
        self.head = h
        self.n = n
        self.used_nl = used
        return True

    def keep(self):
        """Remember the queue before a burst of steps that may yet be refused (the segments never change in between)."""
        k = self._kept
        k[0] = self.head
        k[1] = self.n
        k[2] = self.used_nl
        k[3] = self.old_nl
        k[4] = self.behind

    def undo(self):
        """Back to the queue keep() saw: the steps taken from the plan since were never moved."""
        k = self._kept
        self.head = k[0]
        self.n = k[1]
        self.used_nl = k[2]
        self.old_nl = k[3]
        self.behind = k[4]

    # ---- cold path ----
    def back(self, nl):
        """The tip moves back by `nl` (module docstring): into the segments already out of it as far as they are
        remembered, beyond that the tip's drug takes the volume. True when the tip's drug changed."""
        if nl <= 0:
            return False
        n = self.n
        h = self.head
        used = self.used_nl - nl
        changed = False
        while used < 0 and self.behind:
            h = (h - 1) % self.slots
            self.behind -= 1
            n += 1
            used += self._nl[h]
            changed = True
        if used < 0:
            if n:
                self._nl[h] -= used  # nothing more remembered: the tip's drug takes the rest
            used = 0
        self.head = h
        self.n = n
        self.used_nl = used
        self.old_nl = 0
        for i in range(n):
            self.old_nl += self._nl[self._slot(i)]
        if n:
            self.old_nl -= used
        return changed

    def refilled(self, catheter_nl, conc):
        """The reservoir's drug (`conc` ug/mL) becomes old: the catheter's part holding it joins the queue."""
        nl = catheter_nl - self.old_nl
        if nl <= 0 or conc <= 0:
            return
        self._append(nl, conc)

    def _append(self, nl, conc):
        n = self.n
        if not n:  # the reservoir's drug is at the tip: what went before it is forgotten
            self.behind = 0
            self.used_nl = 0
        else:
            back = self._slot(n - 1)
            if conc == self._conc[back] or n == self.slots:
                if conc != self._conc[back]:
                    self.merges += 1
                    self._conc[back] = max(self._conc[back], conc)  # paced as the stronger: only ever short
                self._nl[back] += nl
                self.old_nl += nl
                if n > 1 and self._conc[back] == self._conc[self._slot(n - 2)]:
                    # the merge made it the strength of the one before: one drug, as a checkpoint's restore reads
                    # them back, so that a reset changes nothing in the queue (and a slot is free again)
                    self._nl[self._slot(n - 2)] += self._nl[back]
                    self.n = n - 1
                return
        i = self._slot(n)  # (an empty queue starts wherever its tip is)
        self._nl[i] = nl
        self._conc[i] = conc
        self.n = n + 1
        self.old_nl += nl
        self.behind = min(self.behind, self.slots - n - 1)  # the slot it took held the oldest remembered one

    def _slot(self, i):
        return (self.head + i) % self.slots

    def clear(self):
        """Nothing old left: the catheter holds the reservoir's drug."""
        self.head = 0
        self.n = 0
        self.used_nl = 0
        self.old_nl = 0
        self.behind = 0  # segments out of the tip whose slots still hold them

    def weakest(self, mass_ng, reservoir_conc):
        """The weakest strength the next `mass_ng` of dose reaches from the tip: the queue's segments in turn (each
        holds volume x strength of dose), then the reservoir's drug (cold path)."""
        weakest = self.tip_conc(reservoir_conc)
        left_pg = mass_ng * 1000  # ng -> pg: nL x ug/mL is pg
        for nl, conc in self.segments():
            if left_pg <= 0:
                return weakest
            weakest = min(weakest, conc)
            left_pg -= nl * conc
        return weakest if left_pg <= 0 else min(weakest, reservoir_conc)

    def segments(self):
        """[(volume left nL, concentration ug/mL)], tip first: what a checkpoint saves."""
        out = []
        for i in range(self.n):
            s = self._slot(i)
            out.append((self._nl[s] - (self.used_nl if i == 0 else 0), self._conc[s]))
        return out

    def restore(self, segments):
        """The queue from `segments()` (a checkpoint); entries without volume or strength are no drug and are
        skipped; more than `slots` merge as a refill would."""
        self.clear()
        for nl, conc in segments:
            if nl > 0 and conc > 0:
                self._append(nl, conc)
