"""Drug library: per-drug hard and soft limits for concentration, daily dose and bolus dose, loaded from JSON."""

import json

from pump.compat import const
from pump.errors import E_HARD_LIMIT, E_MALFORMED, E_SOFT_LIMIT, E_STORAGE, E_UNKNOWN_DRUG, PumpError
from pump.units import MAX_SMALL_INT, format_ug, json_text, ug_to_ng, whole

FORMAT = const(1)

# Quantities a limit applies to, and the value each check takes:
QTY_CONC = const(0)  # concentration, whole µg/mL
QTY_DAILY = const(1)  # daily dose, ng/day
QTY_BOLUS = const(2)  # one bolus, ng

_QTY_KEYS = ("concentration_ug_per_ml", "daily_dose_ug_per_day", "bolus_dose_ug")
_QTY_UNITS = ("ug/mL", "ug/day", "ug")
_BOUND_KEYS = ("hard_min", "soft_min", "soft_max", "hard_max")
_ENTRY_KEYS = _QTY_KEYS + ("example", "note")
_TOP_KEYS = ("format", "version", "note", "drugs")


def _bad(key, what):
    """The error to raise for a malformed value at `key`."""
    return PumpError(E_MALFORMED, "%s: %s" % (key, what))


def _bounds(obj, key):
    # Four bounds in milli-units (ng for µg): hard_min, soft_min, soft_max, hard_max. Soft bounds may be null/absent.
    if type(obj) is not dict:
        raise _bad(key, "must be an object")
    for k in obj:
        if k not in _BOUND_KEYS:
            raise _bad("%s.%s" % (key, k), "unknown key")
    out = []
    for i, name in enumerate(_BOUND_KEYS):
        path = "%s.%s" % (key, name)
        v = obj.get(name)
        if v is None:
            if i in (0, 3):
                raise _bad(path, "missing")
            out.append(None)
            continue
        try:
            milli = ug_to_ng(v, path)
        except PumpError as e:
            raise PumpError(E_MALFORMED, e.detail)
        if milli > MAX_SMALL_INT:
            raise _bad(path, "too large")
        out.append(milli)
    prev = None
    for i, v in enumerate(out):
        if v is None:
            continue
        if prev is not None and v < prev:
            raise _bad("%s.%s" % (key, _BOUND_KEYS[i]), "out of order (hard_min <= soft_min <= soft_max <= hard_max)")
        prev = v
    if out[3] == 0:
        raise _bad("%s.hard_max" % key, "must be > 0")
    return tuple(out)


class DrugLimits:
    """Limits of one drug: `bounds[qty]` = (hard_min, soft_min, soft_max, hard_max) in ng units (µg x 1000)."""

    def __init__(self, name, bounds, example):
        self.name = name
        self.bounds = bounds
        self.example = example


class DrugLibrary:
    """The library the pump checks every prescription against. Build with `from_json(text)` or `load(path)`."""

    def __init__(self, version, note, drugs):
        self.version = version
        self.note = note
        self.drugs = drugs  # name (lower case) -> DrugLimits

    @classmethod
    def from_json(cls, text):
        """Parse library JSON (str or bytes). Anything malformed is PumpError E_MALFORMED naming the key."""
        try:
            doc = json.loads(text)
        except (ValueError, TypeError):
            raise PumpError(E_MALFORMED, "druglib: not valid JSON")
        return cls.from_doc(doc)

    @classmethod
    def from_doc(cls, doc):
        if type(doc) is not dict:
            raise _bad("druglib", "must be an object")
        for k in doc:
            if k not in _TOP_KEYS:
                raise _bad(k, "unknown key")
        if whole(doc.get("format")) != FORMAT:
            raise _bad("format", "must be %d, got %s" % (FORMAT, json_text(doc.get("format"))))
        version = doc.get("version")
        if type(version) is not str or not version:
            raise _bad("version", "must be a non-empty string")
        note = doc.get("note", "")
        if type(note) is not str:
            raise _bad("note", "must be a string")
        entries = doc.get("drugs")
        if type(entries) is not dict or not entries:
            raise _bad("drugs", "must be a non-empty object")
        drugs = {}
        for name in entries:
            key = "drugs.%s" % name
            if type(name) is not str or not name or name != name.lower() or name.strip() != name:
                raise _bad(key, "drug names are lower case without surrounding spaces")
            entry = entries[name]
            if type(entry) is not dict:
                raise _bad(key, "must be an object")
            for k in entry:
                if k not in _ENTRY_KEYS:
                    raise _bad("%s.%s" % (key, k), "unknown key")
            example = entry.get("example", False)
            if type(example) is not bool:
                raise _bad(key + ".example", "must be true or false")
            if type(entry.get("note", "")) is not str:
                raise _bad(key + ".note", "must be a string")
            bounds = tuple(_bounds(entry.get(q), "%s.%s" % (key, q)) for q in _QTY_KEYS)
            drugs[name] = DrugLimits(name, bounds, example)
        return cls(version, note, drugs)

    @classmethod
    def load(cls, path):
        """Read and parse a library file; an unreadable file is E_STORAGE, a malformed one E_MALFORMED naming the
        file and the key ("/lib/druglib.json: format: must be 1, got 1.5")."""
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError:
            raise PumpError(E_STORAGE, "druglib: cannot read %s" % path)
        try:
            return cls.from_json(text)
        except PumpError as e:
            raise PumpError(e.code, "%s: %s" % (path, e.detail))

    def names(self):
        return sorted(self.drugs)

    def limits(self, name, key="drug.name"):
        """DrugLimits for `name` (case-insensitive); E_UNKNOWN_DRUG naming `key` if absent."""
        lim = self.drugs.get(name.lower()) if type(name) is str else None
        if lim is None:
            raise PumpError(E_UNKNOWN_DRUG, "%s: %r" % (key, name))
        return lim

    def violation(self, name, qty, value, lower=True):
        """None, or (code, text) for the first limit `value` breaks: E_HARD_LIMIT before E_SOFT_LIMIT.

        `value` is whole µg/mL for QTY_CONC, ng/day for QTY_DAILY, ng for QTY_BOLUS. lower=False checks the
        maxima only (e.g. a single schedule step's rate, which may well lie below a daily minimum).
        """
        lim = self.limits(name)
        milli = value * 1000 if qty == QTY_CONC else value
        b = lim.bounds[qty]
        unit = _QTY_UNITS[qty]
        for code, lo, hi, level in ((E_HARD_LIMIT, b[0], b[3], "hard"), (E_SOFT_LIMIT, b[1], b[2], "soft")):
            if lower and lo is not None and milli < lo:
                return code, "%s %s below %s min %s for %s" % (format_ug(milli), unit, level, format_ug(lo), lim.name)
            if hi is not None and milli > hi:
                return code, "%s %s above %s max %s for %s" % (format_ug(milli), unit, level, format_ug(hi), lim.name)
        return None

    def check(self, name, qty, value, key="", confirm_soft=False, lower=True):
        """Raise E_HARD_LIMIT / E_SOFT_LIMIT (the latter unless confirm_soft) naming `key`; else return None."""
        v = self.violation(name, qty, value, lower)
        if v is not None and not (confirm_soft and v[0] == E_SOFT_LIMIT):
            raise PumpError(v[0], "%s: %s" % (key, v[1]))
