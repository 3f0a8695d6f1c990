"""Scenario files (format version 1): load and check every key, naming the bad one; times become integer ms, whole
numbers ints (20000.0 is 20000: JSON writers emit it so; 1.5, NaN, inf or true where an integer belongs are refused)."""

import json

from pump.errors import PumpError
from pump.units import as_int, as_number, json_text, whole

SCENARIO_VERSION = 1
_TOP = {
    "version", "days", "seed", "start", "pump", "drug", "fill_ul", "low_reservoir_ul", "therapy", "patient_bolus",
    "periodic_boluses", "confirm_soft_limits", "events", "plant", "description",
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
    "refill": {"fill_ul": True, "concentration_ug_per_ml": False},
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
}
# event arguments that are numbers (the others are names, or a prescription the pump checks): True for an integer
_EVENT_NUMBERS = {"dose_ug": False, "duration_min": True, "fill_ul": True, "concentration_ug_per_ml": True,
                  "volume_ul": True, "shift_min": False, "resistance_x": False, "percent": False}
# flash_corrupt: which store's slots get a flipped bit (they are read back at the next reset)
FLASH_STORES = ("state", "prog", "cmdauth", "log")
FLASH_SLOTS = ("a", "b", "both")


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
        raise ScenarioError("%s%s: %r not in %r..%r" % (path, key, v, lo, hi))
    return v


def _obj(v, path):
    if not isinstance(v, dict):
        raise ScenarioError("%s: must be an object" % path)
    return v


class Scenario:
    """A checked scenario: `prescription` is the therapy part for the pump, `events` sorted (at_ms, type, dict)."""

    def __init__(self, doc):
        _obj(doc, "scenario")
        for key in doc:
            if key not in _TOP:
                raise ScenarioError("%s: unknown key" % key)
        version = doc.get("version", SCENARIO_VERSION)
        if whole(version) != SCENARIO_VERSION:
            raise ScenarioError("version: only %d is understood, got %s" % (SCENARIO_VERSION, json_text(version)))
        self.doc = doc
        self.days = _num(doc, "days", "", 0.001, 3650 * 2)
        self.seed = _num(doc, "seed", "", 0, 2**31, integer=True, default=1)
        pump = _obj(doc.get("pump", {}), "pump")
        self.pump_config = dict(pump)  # checked by PumpConfig (names the key)
        if "low_reservoir_ul" in doc:
            self.pump_config["low_reservoir_ul"] = _num(doc, "low_reservoir_ul", "", integer=True)
        self.fill_ul = _num(doc, "fill_ul", "", 0, 100000, integer=True, default=0)
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
        if kind == "reset" and e.get("cause", "power_on") not in ("power_on", "watchdog"):
            raise ScenarioError("%scause: %r is not power_on or watchdog" % (path, e["cause"]))
        e = dict(e)
        for key in allowed:
            if key in _EVENT_NUMBERS and key in e:
                e[key] = _num(e, key, path, integer=_EVENT_NUMBERS[key])
        if kind == "flash_corrupt":
            for key, names in (("store", FLASH_STORES), ("slot", FLASH_SLOTS)):
                if e[key] not in names:
                    raise ScenarioError("%s%s: %r is not one of %s" % (path, key, e[key], ", ".join(names)))
        if kind == "set_clock":
            _num(e, "shift_min", path, -20 * 527040, 20 * 527040)  # twenty years either way
        return round(at_h * 3600000), kind, e


def load(path):
    """The checked Scenario of a file; ScenarioError (the caller names the file)."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise ScenarioError("cannot read (%s)" % e.strerror) from e
    except ValueError as e:
        raise ScenarioError("not JSON (%s)" % e) from e
    return Scenario(doc)
