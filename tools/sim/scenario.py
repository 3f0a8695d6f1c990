"""Scenario files (format version 1): load and check every key, naming the bad one; times become integer ms, whole
numbers ints (20000.0 is 20000: JSON writers emit it so; 1.5, NaN, inf or true where an integer belongs are refused)."""

import json
import os

from pump.errors import PumpError
from pump.units import as_int, as_number, json_text, whole

SCENARIO_VERSION = 1
_TOP = {
    "version", "days", "seed", "start", "pump", "drug", "fill_ul", "low_reservoir_ul", "therapy", "patient_bolus",
    "periodic_boluses", "confirm_soft_limits", "events", "plant", "description", "prescription", "trial",
    "confirm_battery",
}
_PRESCRIPTION = ("drug", "therapy", "patient_bolus", "periodic_boluses", "confirm_soft_limits")
_PLANT = {"nl_per_step_true", "battery_mah", "compliance_ul_per_kpa", "catheter_resistance_kpa_s_per_ul",
          "sensor_noise_kpa", "csf_kpa"}
HYDRAULIC_KEYS = ("compliance_ul_per_kpa", "catheter_resistance_kpa_s_per_ul", "sensor_noise_kpa", "csf_kpa")
# event type -> {key: required}
EVENT_KEYS = {
    "reset": {"cause": False},
    "patient_bolus": {},
    "clinician_bolus": {"dose_ug": True, "duration_min": True},
    "refill": {"fill_ul": True, "concentration_ug_per_ml": False, "aspirated_ul": False},
    "suspend": {},
    "resume": {},
    "stop": {},
    "prime": {"volume_ul": False},
    "program": {"prescription": True},
    "set_clock": {"shift_min": True},
    "occlusion": {},
    "partial_occlusion": {"resistance_x": True},
    "occlusion_clear": {},
    "sensor_fault": {"sensor": True, "mode": True},
    "motor_stall": {},
    "battery": {"percent": True},
    "resume_alarm": {},
    "acknowledge": {},
    "flash_corrupt": {"store": True, "slot": True},
    "pain_score": {"score": True, "side_effects": False, "free_code": False, "by": False},
}
# What each event argument may be, in one place: a tuple of names, or a number (integer?, lo, hi). The numbers a
# clinician types into a command (dose, duration, fill, concentration, volume) are the pump's to check: lo and hi None,
# a value it refuses is a refused command, as it would be on a pump. The others drive the plant: checked here.
SENSOR_MODES = {"pressure": ("stuck", "open", "open_high", "noisy", "out_of_range", "none"),
                "battery": ("stuck", "open", "noisy", "none")}
FLASH_STORES = ("state", "prog", "cmdauth", "log")  # flash_corrupt: which store's slots get a flipped bit
FLASH_SLOTS = ("a", "b", "both")
EVENT_ARGS = {
    "cause": ("power_on", "watchdog"),
    "sensor": tuple(SENSOR_MODES),
    "store": FLASH_STORES,
    "slot": FLASH_SLOTS,
    "dose_ug": (False, None, None),
    "duration_min": (True, None, None),
    "fill_ul": (True, None, None),
    "aspirated_ul": (True, None, None),
    "concentration_ug_per_ml": (True, None, None),
    "volume_ul": (True, None, None),
    "shift_min": (False, -20 * 527040, 20 * 527040),  # twenty years either way
    "resistance_x": (False, 1.01, 1000000),  # the catheter's resistance times this: above 1, or it is no occlusion
    "percent": (False, 0, 100),
    "score": (True, None, None),  # the pump checks it (0-10)
    "free_code": (True, None, None),
    "by": ("patient", "clinician"),
}
# events that act on the catheter hydraulics (and its pressure sensor): the plant must have them
HYDRAULIC_EVENTS = ("occlusion", "partial_occlusion", "occlusion_clear")


class ScenarioError(Exception):
    """A malformed scenario: the message names the offending key."""


def _num(doc, key, path, lo=None, hi=None, integer=False, default=None):
    """doc[key] as an int (integer) or a finite number, within lo..hi when given; ScenarioError naming path + key."""
    if key not in doc:
        if default is None:
            raise ScenarioError("%s%s: missing" % (path, key))
        return default
    try:
        v = as_int(doc[key], path + key) if integer else as_number(doc[key], path + key)
    except PumpError as e:
        raise ScenarioError(e.detail) from e
    if lo is not None and not lo <= v <= hi:
        raise ScenarioError("%s%s: %s: allowed %s..%s" % (path, key, json_text(v), json_text(lo), json_text(hi)))
    return v


START_DATE = "2026-08-01"  # the simulated clock's first day (00:00) unless a scenario's "start" names another


def _start_date(text):
    """The "start" key: a date YYYY-MM-DD within the pump's clock range (2024-01-01 .. 2099-12-31)."""
    import datetime

    try:
        day = datetime.date.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        day = None
    if day is None or not datetime.date(2024, 1, 1) <= day <= datetime.date(2099, 12, 1):
        raise ScenarioError("start: %s: allowed a date YYYY-MM-DD, 2024-01-01..2099-12-01" % json_text(text))
    return day


def _obj(v, path):
    if not isinstance(v, dict):
        raise ScenarioError("%s: must be an object" % path)
    return v


def _prescription_file(path, base_dir, key):
    """The prescription document a scenario names by file (relative to the scenario's folder)."""
    if not isinstance(path, str):
        raise ScenarioError("%s: must be a prescription file's path or, in a program event, a prescription" % key)
    full = os.path.join(base_dir, path)
    try:
        with open(full) as f:
            doc = json.load(f)
    except OSError as e:
        raise ScenarioError("%s: %s: cannot read (%s)" % (key, path, e.strerror)) from e
    except ValueError as e:
        raise ScenarioError("%s: %s: not JSON (%s)" % (key, path, e)) from e
    if isinstance(doc, dict) and ("events" in doc or "days" in doc):
        raise ScenarioError("%s: %s is a scenario (it has events/days), not a prescription" % (key, path))
    return _obj(doc, "%s: %s" % (key, path))


def _looks_like_a_prescription(doc):
    return "days" not in doc and "events" not in doc and ("therapy" in doc or "drug" in doc)


class Scenario:
    """A checked scenario: `prescription` is the therapy part for the pump, `events` sorted (at_ms, type, dict).
    `"prescription": "file.json"` takes the therapy part from a prescription file (relative to `base_dir`, the
    scenario's folder), as does a program event's `prescription` given as a path."""

    def __init__(self, doc, base_dir="."):
        _obj(doc, "scenario")
        self.base_dir = base_dir
        if _looks_like_a_prescription(doc):
            raise ScenarioError("days: missing: this is a prescription, not a scenario (check it with `python -m "
                                "tools.programmer check FILE`, run it with `make run RX=FILE`, or name it in a "
                                "scenario: \"prescription\": \"FILE\")")
        if "prescription" in doc:
            given = [k for k in _PRESCRIPTION if k in doc]
            if given:
                raise ScenarioError("prescription: names a file, and %s given too: one or the other" % ", ".join(
                    given))
            rx = _prescription_file(doc["prescription"], base_dir, "prescription")
            doc = dict(doc)
            del doc["prescription"]
            doc.update(rx)
        for key in doc:
            if key not in _TOP:
                raise ScenarioError("%s: unknown key" % key)
        version = doc.get("version", SCENARIO_VERSION)
        if whole(version) != SCENARIO_VERSION:
            raise ScenarioError("version: only %d is understood, got %s" % (SCENARIO_VERSION, json_text(version)))
        self.doc = doc
        self.days = _num(doc, "days", "", 0.001, 3650 * 2)
        self.seed = _num(doc, "seed", "", 0, 2**31, integer=True, default=1)
        self.start = _start_date(doc.get("start", START_DATE))
        pump = _obj(doc.get("pump", {}), "pump")
        self.pump_config = dict(pump)  # checked by PumpConfig (names the key)
        if "low_reservoir_ul" in doc:
            self.pump_config["low_reservoir_ul"] = _num(doc, "low_reservoir_ul", "", integer=True)
        self.fill_ul = _num(doc, "fill_ul", "", 0, 100000, integer=True, default=0)
        # the clinician confirms a program whose rate brings the battery's replacement within 90 days (the pump's
        # E600 check): true unless the scenario rehearses that refusal
        self.confirm_battery = doc.get("confirm_battery", True)
        if type(self.confirm_battery) is not bool:
            raise ScenarioError("confirm_battery: must be true or false, got %s" % json_text(self.confirm_battery))
        for key in ("drug", "therapy"):
            if key not in doc:
                raise ScenarioError("%s: missing" % key)
        self.prescription = {k: doc[k] for k in _PRESCRIPTION if k in doc}
        plant = _obj(doc.get("plant", {}), "plant")
        for key in plant:
            if key not in _PLANT:
                raise ScenarioError("plant.%s: unknown key" % key)
            _num(plant, key, "plant.")
        self.plant = plant
        self.trial = None  # the screening trial's document for the pump (pump.trial), the scenario's drug by default
        if "trial" in doc:
            self.trial = dict(_obj(doc["trial"], "trial"))
            self.trial.setdefault("drug", doc["drug"])
        self.events = []
        events = doc.get("events", [])
        if not isinstance(events, list):
            raise ScenarioError("events: must be a list")
        for i, e in enumerate(events):
            self.events.append(self._event(e, "events[%d]." % i))
        self.events.sort(key=lambda e: e[0])

    def _event(self, e, path):
        _obj(e, path.rstrip("."))
        kind = e.get("type")
        if kind not in EVENT_KEYS:
            raise ScenarioError("%stype: %r is not one of %s" % (path, kind, ", ".join(sorted(EVENT_KEYS))))
        at_h = _num(e, "at_h", path, 0, self.days * 24)
        allowed = EVENT_KEYS[kind]
        for key in e:
            if key not in ("at_h", "type") and key not in allowed:
                raise ScenarioError("%s%s: unknown key for a %s event" % (path, key, kind))
        for key, required in allowed.items():
            if required and key not in e:
                raise ScenarioError("%s%s: missing" % (path, key))
        e = dict(e)
        for key in allowed:
            if key in e:
                e[key] = self._arg(e, key, path)
        if kind == "pain_score" and "side_effects" in e:
            e["side_effects"] = _side_effects(e["side_effects"], path + "side_effects")
        if kind == "program" and isinstance(e["prescription"], str):
            e["prescription"] = _prescription_file(e["prescription"], self.base_dir, path + "prescription")
        if kind == "sensor_fault" and e["mode"] not in SENSOR_MODES[e["sensor"]]:
            raise ScenarioError("%smode: %s: allowed for the %s sensor %s" % (
                path, json_text(e["mode"]), e["sensor"], ", ".join(SENSOR_MODES[e["sensor"]])))
        hydraulic = kind in HYDRAULIC_EVENTS or (kind == "sensor_fault" and e["sensor"] == "pressure")
        if hydraulic and not any(k in self.plant for k in HYDRAULIC_KEYS):
            raise ScenarioError("%stype: the %s event needs the catheter hydraulics: plant.%s or another of %s" % (
                path, kind, HYDRAULIC_KEYS[0], ", ".join(HYDRAULIC_KEYS[1:])))
        return round(at_h * 3600000), kind, e

    @staticmethod
    def _arg(e, key, path):
        """An event argument checked against EVENT_ARGS (names: the set; numbers: the type and the range)."""
        rule = EVENT_ARGS.get(key)
        if rule is None:  # a prescription: the pump checks it
            return e[key]
        if isinstance(rule[0], str):
            if e[key] not in rule:
                raise ScenarioError("%s%s: %s: allowed %s" % (path, key, json_text(e[key]), ", ".join(rule)))
            return e[key]
        integer, lo, hi = rule
        return _num(e, key, path, lo, hi, integer=integer)


def _side_effects(names, key):
    """The side-effect mask of a list of names from pump.trial.SIDE_EFFECTS."""
    from pump.trial import SIDE_EFFECTS

    if not isinstance(names, list) or any(n not in SIDE_EFFECTS for n in names):
        raise ScenarioError("%s: %s: allowed a list of %s" % (key, json_text(names), ", ".join(SIDE_EFFECTS)))
    mask = 0
    for n in names:
        mask |= 1 << SIDE_EFFECTS.index(n)
    return mask


def load(path):
    """The checked Scenario of a file; ScenarioError (the caller names the file)."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise ScenarioError("cannot read (%s)" % e.strerror) from e
    except ValueError as e:
        raise ScenarioError("not JSON (%s)" % e) from e
    return Scenario(doc, os.path.dirname(path) or ".")
