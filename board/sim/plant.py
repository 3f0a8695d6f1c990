"""Simulated board, the plant: the physical truth the firmware cannot see directly (the volume each step really moves,
the drug left in the reservoir and in the catheter line (Line), what reached the patient, the battery charge), and
the one random generator every simulated part draws from (SimRng)."""


class Line:
    """What a catheter line holds, tip first: the strength (ug/mL) and volume (nL) of each drug in turn. `out_to`
    moves the tip: the oldest drug leaves first and its mass is counted exactly (whole ng in `ng`, the pg below in
    `pg`); a volume that flows back in and out again counts once (the tip follows the most that has ever left)."""

    def __init__(self, conc_ug_per_ml, nl):
        self.conc = [conc_ug_per_ml]  # from index `tip` on (grown only by a refill with a new strength)
        self.nl = [nl]
        self.tip = 0
        self.out_nl = 0  # the most volume that has left the tip so far
        self.ng = 0
        self.pg = 0

    @property
    def mass_pg(self):
        return self.ng * 1000 + self.pg

    def push(self, nl, conc_ug_per_ml):
        """`nl` of the reservoir's drug enters at the reservoir's end."""
        last = len(self.nl) - 1
        if self.conc[last] == conc_ug_per_ml:
            self.nl[last] += nl
        else:  # the first step after a refill with a new strength
            self.conc.append(conc_ug_per_ml)
            self.nl.append(nl)

    def out_to(self, out_nl):
        """The volume that has left the tip so far is `out_nl`: the oldest drug goes first."""
        out = out_nl - self.out_nl
        if out <= 0:
            return
        self.out_nl = out_nl
        vols = self.nl
        concs = self.conc
        i = self.tip
        last = len(vols) - 1
        pg = self.pg
        while out > vols[i] and i < last:
            v = max(vols[i], 0)
            pg += v * concs[i]
            out -= v
            vols[i] = 0
            i += 1
        vols[i] -= out  # below 0 only at the reservoir's end, when more left the tip than went in: owed
        pg += out * concs[i]
        self.tip = i
        if pg >= 1000:
            ng = pg // 1000
            self.ng += ng
            pg -= ng * 1000
        self.pg = pg

    def peek_pg(self, nl):
        """The drug mass in the next `nl` to leave the tip (pg), the line unchanged (beyond it: the last drug's)."""
        pg = 0
        i = self.tip
        last = len(self.nl) - 1
        while nl > 0:
            v = nl if i == last else min(max(self.nl[i], 0), nl)
            pg += v * self.conc[i]
            nl -= v
            i += 1
        return pg

    def draw_back(self, nl):
        """`nl` drawn back into the reservoir from the line's reservoir end (the occlusion back-off)."""
        vols = self.nl
        i = len(vols) - 1
        while i > self.tip:
            take = min(nl, max(vols[i], 0))
            vols[i] -= take
            nl -= take
            if not nl:
                return
            i -= 1
        vols[i] -= nl

    def refilled(self, conc_ug_per_ml, first):
        """A refill: `first` when the plant never held drug (the line was primed with this one); what has left the
        tip is dropped (cold path)."""
        if first:
            self.conc = [conc_ug_per_ml if c == 0 else c for c in self.conc]
        self.conc = self.conc[self.tip:]
        self.nl = self.nl[self.tip:]
        self.tip = 0


class Plant:
    """Physical truth: true volume per step, drug in the reservoir, the drugs in the catheter line, volume and drug
    mass delivered, battery charge.

    The line is what the catheter really holds, tip first: each forward step's true volume enters it with the
    reservoir's strength and the oldest drug leaves at the tip as the volume delivered grows, so `delivered_ng` is
    the drug mass that reached the patient (drug that flows back in with a CSF wave and out again counts once). A
    plant that never held drug has its line primed with its first fill's drug, as the firmware assumes. A refill
    empties the reservoir before the new drug goes in; what the occlusion back-off draws back leaves the line at
    the reservoir's end.

    `rigid` is the same line read as if it were rigid: its tip moves with the volume the mechanism moves (forward
    minus the back-off), at once, so `pushed_pg` is the dose the mechanism drove out of the tip, without the few
    hundred nL the line's compliance holds back and releases as the CSF pressure moves (verify/soak.py judges doses
    by it)."""

    def __init__(self, nl_per_step=200, fill_ul=0, battery_mah=2000, step_uah=2, idle_ua=10, conc_ug_per_ml=0,
                 catheter_ul=0):
        self.nl_per_step = nl_per_step  # what one step really moves (calibration may differ)
        self.reservoir_nl = fill_ul * 1000
        self.conc_ug_per_ml = conc_ug_per_ml  # the reservoir's drug
        self.line = Line(conc_ug_per_ml, catheter_ul * 1000)
        self.rigid = Line(conc_ug_per_ml, catheter_ul * 1000)
        self.pushed_nl = 0  # net volume the mechanism moved into the line
        self.delivered_nl = 0
        self.steps_forward = 0
        self.steps_reverse = 0
        self.jammed = False
        self.battery_uah = battery_mah * 1000
        self.step_uah = step_uah
        self.idle_ua = idle_ua
        self.hydraulics = None  # a Hydraulics once attached: delivered_nl then counts what left the catheter

    def forward(self, n):
        self.steps_forward += n
        self.battery_uah -= n * self.step_uah
        if self.jammed:
            return  # a stalled mechanism: the coils pulse, nothing moves
        moved = min(n * self.nl_per_step, self.reservoir_nl)  # an empty reservoir pumps nothing
        self.reservoir_nl -= moved
        self.line.push(moved, self.conc_ug_per_ml)
        self.rigid.push(moved, self.conc_ug_per_ml)
        self.pushed_nl += moved
        self.rigid.out_to(self.pushed_nl)
        if self.hydraulics is None:
            self.reached(self.delivered_nl + moved)
        else:
            self.hydraulics.pump_nl(moved)  # the line's outflow follows through reached()

    def reached(self, delivered_nl):
        """The volume that has left the catheter tip so far is `delivered_nl`: the line's oldest drug goes first."""
        self.delivered_nl = delivered_nl
        self.line.out_to(delivered_nl)

    @property
    def delivered_ng(self):
        """Drug mass that left the tip, whole ng (the pg below in `line.pg`)."""
        return self.line.ng

    @property
    def delivered_ug(self):
        """Drug mass that left the tip, ug."""
        return self.line.ng / 1000 + self.line.pg / 1000000

    @property
    def pushed_pg(self):
        """Drug mass the mechanism drove out of the tip (the rigid line), pg."""
        return self.rigid.mass_pg

    def reverse(self, n):
        """n steps backwards (the occlusion back-off); with hydraulics the volume returns to the reservoir."""
        self.steps_reverse += n
        if self.hydraulics is not None:
            back = n * self.nl_per_step
            self.hydraulics.withdraw_nl(back)
            self.reservoir_nl += back
            self.line.draw_back(back)
            self.rigid.draw_back(back)
            self.pushed_nl -= back

    def refill(self, fill_ul, conc_ug_per_ml=0):
        """A new fill; `conc_ug_per_ml` (0: the same drug) is its strength."""
        self.reservoir_nl = fill_ul * 1000
        first = False
        if conc_ug_per_ml:
            first = not self.conc_ug_per_ml  # never held drug: the line was primed with this one
            self.conc_ug_per_ml = conc_ug_per_ml
        self.line.refilled(self.conc_ug_per_ml, first)
        self.rigid.refilled(self.conc_ug_per_ml, first)


class SimRng:
    """xorshift32 from a seed: the same numbers on CPython and on the MicroPython unix port. The seed is mixed and
    four draws are dropped, so nearby seeds give unrelated streams; `raw=True` starts from the seed itself (the
    battery's reading noise, whose stream predates the mixing)."""

    def __init__(self, seed=1, raw=False):
        if raw:
            self.x = seed or 1
            return
        x = (seed * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF
        self.x = x or 1
        for _ in range(4):
            self.next()

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def int_in(self, k):
        """An int in -k..k."""
        return self.next() % (2 * k + 1) - k

    def uniform(self):
        """In [0, 1)."""
        return self.next() / 4294967296.0

    def gaussish(self):
        """Mean 0, sigma 1: the sum of the four bytes of one draw (Irwin-Hall, bounded at +-3.46 sigma)."""
        x = self.next()
        return ((x & 255) + (x >> 8 & 255) + (x >> 16 & 255) + (x >> 24) - 510) * 0.006766
