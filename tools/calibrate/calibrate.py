"""Bench calibration of the mechanism (nL per motor step) from weighed deliveries of water, written to config.json.

    python -m tools.calibrate [--board pico_w] [--config config.json]             (interactive: prompts)
    python -m tools.calibrate --csv runs.csv [--temp-c 21.5] [--dry-run]          (from a file)

n runs of S steps each are weighed. Grams become µL as in ISO 8655-6 (gravimetric method): V = m × Z, with
Z = (1 − ρ_air/ρ_weights) / (ρ_water(T) − ρ_air), ρ_water from the Tanaka et al. (2001) formula for air-free water
at the entered temperature, ρ_air = 1.2 kg/m³, ρ_weights = 8000 kg/m³ (steel balance weights). µL × 1000 / S is
that run's nL/step. The recommended value is the mean, rounded to a whole nL (the firmware's unit).

Refused with a message saying why (exit code 3): fewer than 3 runs, a run lighter than 0.05 g, a run more than 5 %
from the median (an outlier: air bubble, drop left on the needle, spill), a coefficient of variation above 2 %,
a value outside the firmware's 1..100000 nL/step, or a change of more than 25 % from the configured value (unless
--allow-change). Malformed input (file, column, number) exits with code 2 naming the row and column.

CSV: a header row with `steps` and `mass_g` columns, optionally `temp_c` (per run), `run` and `note`; lines starting
with `#` are comments. Without a `temp_c` column, --temp-c gives the water temperature.
"""

import argparse
import csv
import math
import os

from tools.boardconfig import boardconfig
from tools.boardconfig.boardconfig import ConfigError

RHO_AIR = 1.2  # kg/m³, air at about 20 °C and 101 kPa
RHO_WEIGHTS = 8000.0  # kg/m³, stainless steel balance weights
MIN_TEMP_C = 15.0  # ISO 8655: tests between 15 and 30 °C
MAX_TEMP_C = 30.0
MIN_RUNS = 3
MIN_MASS_G = 0.05  # 0.1 mg balance resolution is then 0.2 % of a run
MAX_OUTLIER = 0.05  # a run further than this (fraction) from the median is an outlier
MAX_CV = 0.02
MAX_CHANGE = 0.25  # largest change from the configured value accepted without --allow-change
NL_PER_STEP_RANGE = (1, 100000)  # pump.config's range for nl_per_step
SUGGESTED_STEPS = 1000

EXIT_INPUT = 2
EXIT_REFUSED = 3
_COLUMNS = ("run", "steps", "mass_g", "temp_c", "note")


class InputError(Exception):
    """Malformed input: the message names the row and column or the option."""


class Refused(Exception):
    """The measurements do not give a calibration to trust: the message says which run or figure, and why."""


def water_density(temp_c):
    """Density of air-free water in kg/m³ at temp_c (Tanaka et al., Metrologia 38 (2001) 301, 0..40 °C)."""
    a1, a2, a3, a4, a5 = -3.983035, 301.797, 522528.9, 69.34881, 999.974950
    t = temp_c
    return a5 * (1 - (t + a1) ** 2 * (t + a2) / (a3 * (t + a4)))


def z_factor(temp_c):
    """µL per mg of balance reading for water at temp_c (air buoyancy included), as ISO 8655-6's Z in µL/mg."""
    rho_w = water_density(temp_c)
    return (1 - RHO_AIR / RHO_WEIGHTS) / (rho_w - RHO_AIR) * 1000  # m³/kg -> µL/mg (1 m³/kg = 1000 µL/mg)


def run_nl_per_step(steps, mass_g, temp_c):
    """nL moved per step in one run of `steps` steps whose water weighed mass_g at temp_c."""
    ul = mass_g * 1000 * z_factor(temp_c)
    return ul * 1000 / steps


class Result:
    """A finished calibration: per-run nL/step and the statistics (mean, sample SD, CV, recommended whole nL)."""

    def __init__(self, runs):
        self.runs = runs  # [(steps, mass_g, temp_c)]
        self.values = [run_nl_per_step(s, m, t) for s, m, t in runs]
        n = len(self.values)
        self.mean = sum(self.values) / n
        self.sd = math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (n - 1)) if n > 1 else 0.0
        self.cv = self.sd / self.mean if self.mean else 0.0
        self.median = sorted(self.values)[n // 2] if n % 2 else sum(sorted(self.values)[n // 2 - 1:n // 2 + 1]) / 2
        self.recommended = math.floor(self.mean + 0.5)

    def report(self):
        lines = ["run  steps   mass g   temp C   uL        nL/step"]
        for i, ((steps, mass_g, temp_c), v) in enumerate(zip(self.runs, self.values)):
            lines.append("%3d  %6d  %7.4f  %6.1f  %8.3f  %9.3f" % (i + 1, steps, mass_g, temp_c, v * steps / 1000, v))
        lines.append("mean %.3f nL/step, SD %.3f, CV %.2f %%, median %.3f; recommended nl_per_step = %d" % (
            self.mean, self.sd, self.cv * 100, self.median, self.recommended))
        return "\n".join(lines)


def check_temp(temp_c, where="water"):
    if not MIN_TEMP_C <= temp_c <= MAX_TEMP_C:
        raise Refused("%s at %.1f C is outside %g..%g C (ISO 8655 conditions)" % (
            where, temp_c, MIN_TEMP_C, MAX_TEMP_C))


def check_run(i, steps, mass_g, temp_c):
    """Refuse one implausible run (the number `i` counts from 1)."""
    check_temp(temp_c, "run %d: water" % i)
    if steps < 1:
        raise Refused("run %d: steps must be at least 1" % i)
    if mass_g <= 0:
        raise Refused("run %d: mass %.4f g: nothing was delivered (check the line is primed)" % (i, mass_g))
    if mass_g < MIN_MASS_G:
        raise Refused("run %d: mass %.4f g is below %g g: too little to weigh reliably, use more steps per run" % (
            i, mass_g, MIN_MASS_G))


def calibrate(runs, current=None, allow_change=False):
    """A Result for the runs [(steps, mass_g, temp_c)], or Refused naming the run or figure that fails."""
    if len(runs) < MIN_RUNS:
        raise Refused("%d run(s): at least %d are needed (5 to 10 recommended)" % (len(runs), MIN_RUNS))
    for i, (steps, mass_g, temp_c) in enumerate(runs):
        check_run(i + 1, steps, mass_g, temp_c)
    res = Result(runs)
    lo, hi = NL_PER_STEP_RANGE
    for i, v in enumerate(res.values):
        if not lo <= v <= hi:
            raise Refused("run %d: %.3f nL/step is outside the firmware's %d..%d" % (i + 1, v, lo, hi))
    for i, v in enumerate(res.values):
        off = abs(v - res.median) / res.median
        if off > MAX_OUTLIER:
            raise Refused("run %d: %.3f nL/step is %.1f %% from the median %.3f (limit %g %%): an outlier (air bubble, "
                          "drop left on the needle, spill?); repeat that run" % (
                              i + 1, v, off * 100, res.median, MAX_OUTLIER * 100))
    if res.cv > MAX_CV:
        raise Refused("CV %.2f %% is above %g %%: the runs do not repeat well enough to calibrate (check for air in "
                      "the line and evaporation)" % (res.cv * 100, MAX_CV * 100))
    if current and not allow_change:
        change = (res.recommended - current) / current
        if abs(change) > MAX_CHANGE:
            raise Refused("recommended %d nL/step is %+.1f %% from the configured %d (limit %g %%): check the "
                          "mechanism and the entries, or pass --allow-change for a new mechanism" % (
                              res.recommended, change * 100, current, MAX_CHANGE * 100))
    return res


# ---- input ----


def _number(text, where, integer=False):
    text = (text or "").strip()
    try:
        v = int(text) if integer else float(text)
    except ValueError:
        raise InputError("%s: %r is not %s" % (where, text, "a whole number" if integer else "a number")) from None
    if not math.isfinite(v):
        raise InputError("%s: %r is not a finite number" % (where, text))
    return v


def read_csv(path, temp_c=None):
    """[(steps, mass_g, temp_c)] from a CSV file (see the module doc); InputError naming row and column."""
    try:
        with open(path, newline="") as f:
            lines = [(n + 1, line) for n, line in enumerate(f) if line.strip() and not line.lstrip().startswith("#")]
    except OSError as e:
        raise InputError("%s: cannot read (%s)" % (path, e.strerror)) from e
    if not lines:
        raise InputError("%s: no header row" % path)
    rows = list(csv.reader([line for _, line in lines]))
    header = [h.strip().lower() for h in rows[0]]
    for h in header:
        if h not in _COLUMNS:
            raise InputError("%s: column %r: unknown (known: %s)" % (path, h, ", ".join(_COLUMNS)))
    for need in ("steps", "mass_g"):
        if need not in header:
            raise InputError("%s: column %s: missing from the header row" % (path, need))
    if "temp_c" not in header and temp_c is None:
        raise InputError("%s: column temp_c: missing, and no --temp-c given" % path)
    runs = []
    for (lineno, _), row in zip(lines[1:], rows[1:]):
        if len(row) != len(header):
            raise InputError("%s: row %d: %d fields, the header has %d" % (path, lineno, len(row), len(header)))
        cell = dict(zip(header, row))
        where = "%s: row %d, column " % (path, lineno)
        steps = _number(cell["steps"], where + "steps", integer=True)
        mass_g = _number(cell["mass_g"], where + "mass_g")
        t = _number(cell["temp_c"], where + "temp_c") if "temp_c" in cell else temp_c
        runs.append((steps, mass_g, t))
    return runs


def interactive(ask, say, temp_c=None):
    """[(steps, mass_g, temp_c)] from prompts; `ask(prompt) -> str`, `say(text)`. A bad entry is asked again."""

    def prompt(text, integer=False, default=None, check=None):
        while True:
            answer = ask(text + (" [%s]: " % default if default is not None else ": ")).strip()
            if not answer and default is not None:
                return default
            try:
                v = _number(answer, text, integer)
                if check is not None:
                    check(v)
                return v
            except (InputError, Refused) as e:
                say("  %s" % e)

    def positive(v):
        if v <= 0:
            raise InputError("must be above 0")

    say(GUIDE)
    if temp_c is None:
        temp_c = prompt("water temperature, C", check=check_temp)
    steps = prompt("steps per run", integer=True, default=SUGGESTED_STEPS, check=positive)
    n = prompt("number of runs", integer=True, default=5, check=lambda v: v >= MIN_RUNS or _raise_few(v))
    runs = []
    for i in range(n):
        say("run %d of %d: tare the vial, deliver %d steps, weigh" % (i + 1, n, steps))
        mass = prompt("  grams", check=lambda m, i=i: check_run(i + 1, steps, m, temp_c))
        runs.append((steps, mass, temp_c))
    return runs


def _raise_few(v):
    raise InputError("at least %d runs" % MIN_RUNS)


GUIDE = """Bench calibration of nL per step (water, no drug; never on a patient)
 1. Fill the reservoir with degassed water at room temperature; prime until the catheter end drips steadily.
 2. Put a small vial with a lid (or a drop of oil on the water, against evaporation) on a 0.1 mg balance; tare.
 3. Per run: touch the catheter tip to the vial wall, deliver the steps (on the REPL of `make maintenance`:
    `import board`, `hw = board.build_configured()`, then `hw.stepper.step_forward(500)` as often as needed: at
    most max_steps_per_call steps a call), touch off the last drop, close the vial and weigh at once.
 4. Enter the water temperature, then each run's grams."""


# ---- main ----


def write_config(path, board, value):
    """Set pump.nl_per_step in the config file (created for `board` if missing); returns (old, new)."""
    doc = boardconfig.load_or_new(path, board)
    old = doc["pump"].get("nl_per_step")
    doc["pump"]["nl_per_step"] = value
    boardconfig.save(path, doc)
    return old, value


def _current(path, board):
    """(board, configured nl_per_step) from an existing config, or from the defaults for `board`."""
    from pump.config import PumpConfig

    if os.path.exists(path):
        doc = boardconfig.load(path, board)
        return doc["board"], PumpConfig(doc["pump"]).nl_per_step
    if board is None:
        raise InputError("%s: no such file; give --board to create one" % path)
    boardconfig.board_defaults(board)  # checks the name
    return board, PumpConfig().nl_per_step


def main(argv=None, ask=input, say=print):
    ap = argparse.ArgumentParser(prog="python -m tools.calibrate", description=__doc__.split("\n")[0])
    ap.add_argument("--csv", help="runs from a CSV file instead of prompts")
    ap.add_argument("--temp-c", type=float, help="water temperature, C (for every run)")
    ap.add_argument("--config", default=boardconfig.DEFAULT_PATH, help="board config file (default: config.json)")
    ap.add_argument("--board", help="board of a new config file (pico_w, esp32_devkit)")
    ap.add_argument("--allow-change", action="store_true", help="accept more than a 25 %% change")
    ap.add_argument("--dry-run", action="store_true", help="print the result, write nothing")
    args = ap.parse_args(argv)
    try:
        return _main(args, ask, say)
    except (EOFError, KeyboardInterrupt):  # the input ended (Ctrl-D, a closed pipe) or Ctrl-C: nothing was written
        say("calibrate: the input ended before the calibration was confirmed: nothing written (prompts need a "
            "terminal, or give the runs with --csv FILE)")
        return EXIT_INPUT


def _main(args, ask, say):
    try:
        board, current = _current(args.config, args.board)
        runs = read_csv(args.csv, args.temp_c) if args.csv else interactive(ask, say, args.temp_c)
        res = calibrate(runs, current, args.allow_change)
    except (InputError, ConfigError) as e:
        say("calibrate: %s" % e)
        return EXIT_INPUT
    except Refused as e:
        say("calibrate: refused: %s" % e)
        return EXIT_REFUSED
    say(res.report())
    if args.dry_run:
        return 0
    if not args.csv and ask("write nl_per_step = %d to %s? [y/N] " % (res.recommended, args.config)).strip().lower() \
            not in ("y", "yes"):
        say("nothing written")
        return 0
    old, new = write_config(args.config, board, res.recommended)
    say("%s: nl_per_step %s -> %d (%s); `make deploy` puts it on the board" % (
        args.config, old if old is not None else "default %d" % current, new, board))
    return 0

