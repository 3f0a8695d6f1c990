"""Screening trial: its program (start, planned end, drug, titration steps over days) checked step by step as
prescriptions, the step due on a day, pain scores and side effects checked and packed into event arguments.

A trial program is a JSON document (the TRIAL command, docs/clinical.md):

    {"start": "2026-08-03", "end": "2026-08-10",
     "drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
     "titration": [{"day": 0, "dose_ug_per_day": 50}, {"day": 2, "dose_ug_per_day": 100}]}

Each titration step is the constant-rate prescription {"drug": ..., "therapy": {"mode": "constant",
"dose_ug_per_day": X}}, checked by pump.prescription like any program (drug library hard and soft limits, the
mechanism's rates): a trial can ask for nothing a program could not. The pump applies a step as a program of its own
(pump.controller), at most one step further per day it sees begin, never going back to an earlier step.
"""

from pump.calendar import WALL_MAX_S, WALL_MIN_S, days_from_civil, iso_date
from pump.compat import const
from pump.errors import E_MALFORMED, E_RANGE, PumpError
from pump.prescription import parse_prescription
from pump.units import as_int

MAX_STEPS = const(16)
MAX_TRIAL_DAYS = const(60)  # a screening trial lasts days to a few weeks: a longer one is a typing error
MAX_SCORE = const(10)  # the 0-10 numeric rating scale
MAX_FREE_CODE = const(32767)  # a clinic's own side-effect code: fits the event argument above the fixed list's bits
# The fixed list of side effects: bit i of the event's side-effect mask (never renumber, only append)
SIDE_EFFECTS = ("nausea", "vomiting", "pruritus", "urinary_retention", "sedation", "dizziness", "headache",
                "constipation", "weakness", "respiratory_depression")
_SIDE_MASK = (1 << len(SIDE_EFFECTS)) - 1
_KEYS = ("start", "end", "drug", "titration")
_STEP_KEYS = ("day", "dose_ug_per_day")
_MIN_DAY = WALL_MIN_S // 86400
_MAX_DAY = WALL_MAX_S // 86400


def parse_date(text, key):
    """Day number since 2000-01-01 of "YYYY-MM-DD" within the pump's clock range; PumpError naming `key`."""
    ok = type(text) is str and len(text) == 10 and text[4] == "-" and text[7] == "-"
    if ok:
        try:
            y, m, d = int(text[:4]), int(text[5:7]), int(text[8:])
        except ValueError:
            ok = False
    if ok and 1 <= m <= 12 and 1 <= d <= 31:
        day = days_from_civil(y, m, d)
        if iso_date(day) == text and _MIN_DAY <= day <= _MAX_DAY:
            return day
    raise PumpError(E_MALFORMED, "%s: %r: allowed a date YYYY-MM-DD, %s..%s" % (
        key, text, iso_date(_MIN_DAY), iso_date(_MAX_DAY)))


class Trial:
    """A checked trial program: `start_day`, `end_day` (days since 2000-01-01), `drug` (its document),
    `steps` ((day offset, dose ng/day), ...) and `doc`, the document as given."""

    def __init__(self, doc, start_day, end_day, steps):
        self.doc = doc
        self.start_day = start_day
        self.end_day = end_day
        self.drug = doc["drug"]
        self.steps = steps

    def program_doc(self, i):
        """The prescription of titration step i."""
        return {"drug": self.drug, "therapy": {"mode": "constant", "dose_ug_per_day": self.doc["titration"][i][
            "dose_ug_per_day"]}}

    def step_due(self, day):
        """Index of the titration step in force on `day` by the calendar (-1 before the start)."""
        due = -1
        for i in range(len(self.steps)):
            if self.start_day + self.steps[i][0] <= day:
                due = i
        return due


def parse_trial(doc, library, nl_per_step, confirm_soft=False):
    """The Trial of a trial document, every titration step checked as a program; one PumpError naming the key."""
    if type(doc) is not dict:
        raise PumpError(E_MALFORMED, "trial: must be an object")
    for k in doc:
        if k not in _KEYS:
            raise PumpError(E_MALFORMED, "trial.%s: unknown key" % k)
    for k in _KEYS:
        if k not in doc:
            raise PumpError(E_MALFORMED, "trial.%s: missing" % k)
    start = parse_date(doc["start"], "trial.start")
    end = parse_date(doc["end"], "trial.end")
    if not start < end <= start + MAX_TRIAL_DAYS:
        raise PumpError(E_RANGE, "trial.end: %s: allowed after trial.start (%s), at most %d days after" % (
            doc["end"], doc["start"], MAX_TRIAL_DAYS))
    steps_doc = doc["titration"]
    if type(steps_doc) is not list or not 0 < len(steps_doc) <= MAX_STEPS:
        raise PumpError(E_MALFORMED, "trial.titration: allowed a list of 1..%d steps" % MAX_STEPS)
    trial = Trial(doc, start, end, ())
    steps = []
    for i in range(len(steps_doc)):
        key = "trial.titration[%d]" % i
        s = steps_doc[i]
        if type(s) is not dict:
            raise PumpError(E_MALFORMED, "%s: must be an object" % key)
        for k in s:
            if k not in _STEP_KEYS:
                raise PumpError(E_MALFORMED, "%s.%s: unknown key" % (key, k))
        if "day" not in s or "dose_ug_per_day" not in s:
            raise PumpError(E_MALFORMED, "%s: day and dose_ug_per_day needed" % key)
        day = as_int(s["day"], key + ".day")
        low = steps[-1][0] + 1 if steps else 0
        if not low <= day < end - start or (not steps and day != 0):
            raise PumpError(E_RANGE, "%s.day: %r: allowed %s, before the trial's end (day %d)" % (
                key, day, "0 (the first step starts the trial)" if not steps else "after the step before",
                end - start))
        try:  # the step as the program the pump will run: every library and mechanism limit
            therapy = parse_prescription(trial.program_doc(i), library, nl_per_step, confirm_soft)
        except PumpError as e:
            detail = e.detail
            if detail.startswith("therapy.dose_ug_per_day"):
                detail = detail[len("therapy."):]
            raise PumpError(e.code, "%s.%s" % (key, detail))
        steps.append((day, therapy.daily[0][1]))
    trial.steps = tuple(steps)
    return trial


def check_score(score, baseline, side_effects, free_code):
    """The (a, b) event arguments of a pain score, checked: a = score | baseline << 4 (role added by the pump),
    b = side-effect mask | free code << 16. PumpError naming the field."""
    if type(score) is not int or not 0 <= score <= MAX_SCORE:
        raise PumpError(E_RANGE, "pain.score: %r: allowed 0..%d (numeric rating scale)" % (score, MAX_SCORE))
    if side_effects & ~_SIDE_MASK:
        raise PumpError(E_RANGE, "pain.side_effects: bits 0..%d (%s)" % (len(SIDE_EFFECTS) - 1, ", ".join(
            SIDE_EFFECTS)))
    if not 0 <= free_code <= MAX_FREE_CODE:
        raise PumpError(E_RANGE, "pain.free_code: %r: allowed 0..%d" % (free_code, MAX_FREE_CODE))
    return score | (16 if baseline else 0), side_effects | free_code << 16


def unpack_score(a, b):
    """(score, baseline, role, side-effect names, free code) of a PAIN_SCORE event's arguments."""
    names = [SIDE_EFFECTS[i] for i in range(len(SIDE_EFFECTS)) if b >> i & 1]
    return a & 15, bool(a & 16), a >> 8 & 0xFF, names, b >> 16 & 0x7FFF
