"""Simulated board, the plant: the physical truth the firmware cannot see directly (the volume each step really moves,
the drug left in the reservoir and in the catheter line, what reached the patient, the battery charge), and the one
random generator every simulated part draws from (SimRng)."""


class Plant:
    """Physical truth: true volume per step, drug in the reservoir, the drugs in the catheter line, volume and drug
    mass delivered, battery charge.

    The line is what the catheter really holds, tip first: each forward step's true volume enters it with the
    reservoir's strength and the oldest drug leaves at the tip as the volume delivered grows, so `delivered_ng` is
    the drug mass that reached the patient (drug that flows back in with a CSF wave and out again counts once). A
    plant that never held drug has its line primed with its first fill's drug, as the firmware assumes. A refill
    empties the reservoir before the new drug goes in; what the occlusion back-off draws back leaves the line at
    the reservoir's end."""

    def __init__(self, nl_per_step=200, fill_ul=0, battery_mah=2000, step_uah=2, idle_ua=10, conc_ug_per_ml=0,
                 catheter_ul=0):
        self.nl_per_step = nl_per_step  # what one step really moves (calibration may differ)
        self.reservoir_nl = fill_ul * 1000
        self.conc_ug_per_ml = conc_ug_per_ml  # the reservoir's drug
        self.line_conc = [conc_ug_per_ml]  # the line, tip first from index `_tip`: strength and volume (nL) of each
        self.line_nl = [catheter_ul * 1000]  # drug in turn (grown only by a refill with a new strength)
        self._tip = 0
        self._out_nl = 0  # the most volume that has left the tip so far
        self.delivered_nl = 0
        self.delivered_ng = 0  # drug mass that left the tip (whole ng; the pg below in _pg)
        self._pg = 0
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
        last = len(self.line_nl) - 1
        if self.line_conc[last] == self.conc_ug_per_ml:
            self.line_nl[last] += moved
        else:  # the first step after a refill with a new strength
            self.line_conc.append(self.conc_ug_per_ml)
            self.line_nl.append(moved)
        if self.hydraulics is None:
            self.reached(self.delivered_nl + moved)
        else:
            self.hydraulics.pump_nl(moved)  # the line's outflow follows through reached()

    def reached(self, delivered_nl):
        """The volume that has left the catheter tip so far is `delivered_nl`: the line's oldest drug goes first."""
        self.delivered_nl = delivered_nl
        out = delivered_nl - self._out_nl
        if out <= 0:
            return
        self._out_nl = delivered_nl
        vols = self.line_nl
        concs = self.line_conc
        i = self._tip
        last = len(vols) - 1
        pg = self._pg
        while out > vols[i] and i < last:
            v = max(vols[i], 0)
            pg += v * concs[i]
            out -= v
            vols[i] = 0
            i += 1
        vols[i] -= out  # below 0 only at the reservoir's end, when more left the tip than went in: owed
        pg += out * concs[i]
        self._tip = i
        if pg >= 1000:
            ng = pg // 1000
            self.delivered_ng += ng
            pg -= ng * 1000
        self._pg = pg

    @property
    def delivered_ug(self):
        """Drug mass that left the tip, ug."""
        return self.delivered_ng / 1000 + self._pg / 1000000

    def reverse(self, n):
        """n steps backwards (the occlusion back-off); with hydraulics the volume returns to the reservoir."""
        self.steps_reverse += n
        if self.hydraulics is not None:
            back = n * self.nl_per_step
            self.hydraulics.withdraw_nl(back)
            self.reservoir_nl += back
            vols = self.line_nl
            i = len(vols) - 1
            while i > self._tip:  # from the reservoir's end of the line
                take = min(back, max(vols[i], 0))
                vols[i] -= take
                back -= take
                if not back:
                    return
                i -= 1
            vols[i] -= back

    def refill(self, fill_ul, conc_ug_per_ml=0):
        """A new fill; `conc_ug_per_ml` (0: the same drug) is its strength."""
        self.reservoir_nl = fill_ul * 1000
        if conc_ug_per_ml:
            if not self.conc_ug_per_ml:  # never held drug: the line was primed with this one
                self.line_conc = [conc_ug_per_ml if c == 0 else c for c in self.line_conc]
            self.conc_ug_per_ml = conc_ug_per_ml
        self.line_conc = self.line_conc[self._tip:]  # what has left the tip is dropped (cold path)
        self.line_nl = self.line_nl[self._tip:]
        self._tip = 0


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
