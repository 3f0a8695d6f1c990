"""Numbers read from JSON: an integral float (10000.0, as JSON writers emit whole numbers) is that integer wherever an
integer is read; a fraction, NaN, infinity or a bool is refused in one line naming the file, the key, what is
allowed and what was found. The firmware's readers here; the tools' in host_tests/therapy/test_json_numbers_tools.py.
"""

import json
import os

from support import raises

import board
from board import drivers
from pump.config import PumpConfig
from pump.druglib import DrugLibrary
from pump.errors import E_MALFORMED, E_RANGE, PumpError
from pump.prescription import parse_prescription
from pump.units import as_int, as_number, json_text, whole
from support.druglib import LIB
from support.rig import PB, Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


_NAN = float("nan")
_INF = float("inf")
# a board's DEFAULT_PINS and DEFAULT_SETTINGS in small (the board modules import machine)
_PINS = {"step": 2, "led": "LED", "pressure_adc": None, "stall_diag": None}
_SETTINGS = {"max_steps_per_s": 500, "dir_forward": 1, "adc_samples": 4}
# what JSON can hold where a whole number belongs, and how the refusal shows it
_BAD = ((1.5, "1.5"), (_NAN, "NaN"), (_INF, "Infinity"), (-_INF, "-Infinity"), (True, "true"), (False, "false"),
        ("12", '"12"'), (None, "null"), ([1], "a list"), ({"a": 1}, "an object"))


def _refusal(fn, *args):
    with raises(PumpError) as e:
        fn(*args)
    return e.value.code, e.value.detail


def test_json_text_spells_values_as_the_file_does():
    for value, text in _BAD + ((7, "7"), (-0.25, "-0.25")):
        assert json_text(value) == text, (value, text)


def test_as_int_takes_integral_floats_and_names_everything_else():
    assert as_int(10000.0, "k") == 10000 and type(as_int(10000.0, "k")) is int
    assert as_int(-3.0, "k") == -3 and as_int(0.0, "k") == 0 and as_int(-0.0, "k") == 0
    assert as_int(1 << 40, "k") == 1 << 40  # ranges are the caller's
    for value, text in _BAD:
        code, detail = _refusal(as_int, value, "x.json: a.b")
        assert detail == "x.json: a.b: must be an integer, got %s" % text, detail
        assert code == (E_RANGE if text in ("NaN", "Infinity", "-Infinity") else E_MALFORMED)
    assert whole(4.0) == 4 and whole(4.5) is None and whole(True) is None and whole(_NAN) is None


def test_as_number_takes_finite_numbers_only():
    assert as_number(2.5, "k") == 2.5 and as_number(3, "k") == 3
    for value, text in _BAD[1:]:
        code, detail = _refusal(as_number, value, "k")
        assert detail == "k: must be a finite number, got %s" % text, detail


def test_pump_config_takes_integral_floats_for_every_key():
    want = PumpConfig().to_doc()
    floats = {k: float(v) for k, v in want.items()}
    assert PumpConfig(floats).to_doc() == want
    assert all(type(v) is int for v in PumpConfig(floats).to_doc().values())
    for key in want:
        for value, text in _BAD[:5]:
            code, detail = _refusal(PumpConfig, {key: value})
            assert detail == "pump.%s: must be an integer, got %s" % (key, text), detail


def _config(**pump):
    return {"format": 1, "board": "pico_w", "hw": {}, "pump": pump}


def test_config_json_numbers_name_the_file_and_key():
    hw, pump = board.parse_config({"format": 1.0, "board": "pico_w", "pump": {"nl_per_step": 196.0}}, "pico_w")
    assert pump == {"nl_per_step": 196} and type(pump["nl_per_step"]) is int
    for value, text in _BAD[:5]:
        code, detail = _refusal(board.parse_config, _config(nl_per_step=value), "pico_w")
        assert detail == "config.json: pump.nl_per_step: must be an integer, got %s" % text, detail
    for value in (True, 1.5, "1", None):
        code, detail = _refusal(board.parse_config, dict(_config(), format=value), "pico_w")
        assert detail == "config.json: format: must be 1, got %s" % json_text(value), detail
    code, detail = _refusal(board.parse_config, _config(nl_per_step=1.5), "pico_w", "/tmp/my.json")
    assert detail == "/tmp/my.json: pump.nl_per_step: must be an integer, got 1.5"


def test_config_json_pin_settings_take_integral_floats():
    pins, settings = _PINS, _SETTINGS
    merged = drivers.merge_config(pins, settings, {"pressure_adc": 27.0, "max_steps_per_s": 400.0, "led": "LED",
                                                   "stall_diag": None, "dir_forward": 0.0})
    assert (merged["pressure_adc"], merged["max_steps_per_s"], merged["dir_forward"]) == (27, 400, 0)
    assert type(merged["pressure_adc"]) is int and type(merged["max_steps_per_s"]) is int
    assert drivers.int_setting(merged, "max_steps_per_s", 100, 20000) == 400
    for key, kind, bad in (("pressure_adc", "a pin number, a pin name or null", _BAD[:5]),
                           ("max_steps_per_s", "an integer", _BAD[:5] + ((None, "null"), ("fast", '"fast"')))):
        for value, text in bad:
            code, detail = _refusal(drivers.merge_config, pins, settings, {key: value})
            assert detail == "config.json: hw.%s: must be %s, got %s" % (key, kind, text), detail
    code, detail = _refusal(drivers.merge_config, pins, settings, {"stp": 5})
    assert (code, detail) == (E_MALFORMED, "config.json: hw.stp: unknown key")
    code, detail = _refusal(drivers.int_setting, dict(merged, adc_samples=65), "adc_samples", 1, 64)
    assert (code, detail) == (E_RANGE, "config.json: hw.adc_samples: must be 1..64, got 65")


def _library_doc(**top):
    b = {"hard_min": 0, "soft_min": None, "soft_max": None, "hard_max": 1000.0}
    doc = {"format": 1, "version": "t", "drugs": {"x": {
        "concentration_ug_per_ml": b, "daily_dose_ug_per_day": b, "bolus_dose_ug": b}}}
    doc.update(top)
    return doc


def test_druglib_json_numbers():
    assert DrugLibrary.from_doc(_library_doc(format=1.0)).limits("x").bounds[0] == (0, None, None, 1000000)
    for value in (True, 1.5, None):
        code, detail = _refusal(DrugLibrary.from_doc, _library_doc(format=value))
        assert detail == "format: must be 1, got %s" % json_text(value)
    doc = _library_doc()
    doc["drugs"]["x"]["bolus_dose_ug"] = {"hard_min": True, "hard_max": 1}
    code, detail = _refusal(DrugLibrary.from_doc, doc)
    assert (code, detail) == (E_MALFORMED, "drugs.x.bolus_dose_ug.hard_min: must be a finite number, got true")
    path = "/tmp/pump-test-druglib-%d.json" % os.getpid() if hasattr(os, "getpid") else "/tmp/pump-test-druglib.json"
    try:
        with open(path, "w") as f:
            f.write(json.dumps(_library_doc(format=1.0)))
        assert DrugLibrary.load(path).names() == ["x"]
        with open(path, "w") as f:
            f.write('{"format": 1.5, "version": "t", "drugs": {}}')
        code, detail = _refusal(DrugLibrary.load, path)
        assert (code, detail) == (E_MALFORMED, "%s: format: must be 1, got 1.5" % path)
    finally:
        os.remove(path)


def _rx_floats():
    doc = rx(4000.0, conc=10000.0, patient_bolus={"dose_ug": 100.0, "duration_min": 10.0, "lockout_min": 120.0,
                                                    "max_per_day": 4.0})
    doc["periodic_boluses"] = [{"start": "12:00", "dose_ug": 50.0, "duration_min": 30.0}]
    return doc


def test_prescriptions_take_integral_floats_wherever_integers_are_read():
    ints = rx(4000, patient_bolus=PB, periodic_boluses=[{"start": "12:00", "dose_ug": 50, "duration_min": 30}])
    assert parse_prescription(_rx_floats(), LIB, 200) == parse_prescription(ints, LIB, 200)
    for path, key in ((("drug",), "concentration_ug_per_ml"), (("patient_bolus",), "duration_min"),
                      (("patient_bolus",), "lockout_min"), (("patient_bolus",), "max_per_day")):
        for value, text in _BAD[:5]:
            doc = _rx_floats()
            doc[path[0]][key] = value
            code, detail = _refusal(parse_prescription, doc, LIB, 200)
            assert detail == "%s.%s: must be an integer, got %s" % (path[0], key, text), detail
    doc = _rx_floats()
    doc["periodic_boluses"][0]["duration_min"] = 30.5
    code, detail = _refusal(parse_prescription, doc, LIB, 200)
    assert detail == "periodic_boluses[0].duration_min: must be an integer, got 30.5"


def test_a_first_fill_with_a_whole_float_concentration_is_accepted():
    # the defect: 10000.0 was refused as "needed for a first fill"
    rig = Rig()
    rig.pump.refill(20000.0, 10000.0, now=rig.now)
    assert rig.pump.plan.conc_ug_per_ml == 10000 and type(rig.pump.plan.conc_ug_per_ml) is int
    assert rig.pump.reservoir.fill_nl == 20000000
    rig.pump.program(_rx_floats(), now=rig.now)
    assert rig.pump.therapy.conc_ug_per_ml == 10000


def test_command_arguments_take_integral_floats_and_refuse_the_rest():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    before = (pump.reservoir.fill_nl, pump.plan.conc_ug_per_ml)
    for args, text in (((1.5, None), "fill_ul: must be an integer, got 1.5"),
                       ((True, None), "fill_ul: must be an integer, got true"),
                       ((20000, _NAN), "concentration_ug_per_ml: must be an integer, got NaN"),
                       ((20000, 10000.5), "concentration_ug_per_ml: must be an integer, got 10000.5")):
        code, detail = _refusal(pump.refill, args[0], args[1], rig.now)
        assert detail == text, detail
        assert (pump.reservoir.fill_nl, pump.plan.conc_ug_per_ml) == before  # nothing half-applied
    pump.refill(30000.0, 10000.0, now=rig.now)
    assert pump.reservoir.fill_nl == 30000000
    pump.clinician_bolus(100.0, 30.0, now=rig.now)
    assert pump.plan.boluses[0].duration_ms == 1800000
    pump.set_clock(float(pump.wall_s(rig.now) + 60), now=rig.now)
    code, detail = _refusal(pump.set_clock, 1.5, rig.now)
    assert detail == "wall_s: must be an integer, got 1.5"
    pump.suspend(now=rig.now)
    pump.prime(20.0, now=rig.now)
    assert pump.plan.prime_nl_left == 20000
    code, detail = _refusal(pump.prime, _INF, rig.now)
    assert detail == "volume_ul: must be an integer, got Infinity"
