"""Drug library: the shipped example file, malformed files refused with the key named, hard/soft limit checks."""

import json

from support import raises

import pump
from pump.druglib import QTY_BOLUS, QTY_CONC, QTY_DAILY, DrugLibrary
from pump.errors import E_HARD_LIMIT, E_MALFORMED, E_SOFT_LIMIT, E_STORAGE, E_UNKNOWN_DRUG, PumpError

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def _shipped_path():
    # The library ships next to the pump package: <root>/lib/druglib.json, wherever the runner was started.
    parts = pump.__file__.replace("\\", "/").split("/")
    return "/".join(parts[:-2] + ["druglib.json"]) if len(parts) > 2 else "druglib.json"


def _bounds(a, b, c, d):
    return {"hard_min": a, "soft_min": b, "soft_max": c, "hard_max": d}


def _lib_doc():
    return {
        "format": 1,
        "version": "t1",
        "note": "test",
        "drugs": {
            "testdrug": {
                "concentration_ug_per_ml": _bounds(100, 500, 20000, 30000),
                "daily_dose_ug_per_day": _bounds(10, 100, 10000, 20000),
                "bolus_dose_ug": _bounds(0.5, 10, 500, 1000),
            }
        },
    }


def _malformed_key(doc):
    with raises(PumpError) as e:
        DrugLibrary.from_doc(doc)
    assert e.value.code == E_MALFORMED, e.value
    return e.value.detail.split(":")[0]


def test_shipped_library_loads_and_is_marked_as_example():
    lib = DrugLibrary.load(_shipped_path())
    assert lib.names() == ["baclofen", "bupivacaine", "clonidine", "hydromorphone", "morphine", "ziconotide"]
    assert type(lib.version) is str and lib.version
    assert "NOT CLINICAL GUIDANCE" in lib.note
    for name in lib.names():
        assert lib.limits(name).example is True
    # A plausible example prescription passes; the checks are real.
    assert lib.violation("morphine", QTY_CONC, 10000) is None
    assert lib.violation("morphine", QTY_DAILY, 5000000) is None


def test_from_json_accepts_str_and_bytes():
    text = json.dumps(_lib_doc())
    a = DrugLibrary.from_json(text)
    b = DrugLibrary.from_json(text.encode())
    assert a.version == b.version == "t1"
    assert a.limits("testdrug").bounds == b.limits("testdrug").bounds
    # µg bounds are held in ng, floats exactly.
    assert a.limits("testdrug").bounds[QTY_BOLUS] == (500, 10000, 500000, 1000000)


def test_not_json_is_malformed():
    with raises(PumpError) as e:
        DrugLibrary.from_json("{not json")
    assert e.value.code == E_MALFORMED
    assert e.value.detail.split(":")[0] == "druglib"
    with raises(PumpError) as e:
        DrugLibrary.from_json("[]")
    assert e.value.code == E_MALFORMED


def test_missing_file_is_storage_error():
    with raises(PumpError) as e:
        DrugLibrary.load("/nonexistent/druglib.json")
    assert e.value.code == E_STORAGE


def test_top_level_keys_are_checked():
    d = _lib_doc()
    del d["version"]
    assert _malformed_key(d) == "version"
    d = _lib_doc()
    d["version"] = 3
    assert _malformed_key(d) == "version"
    d = _lib_doc()
    d["format"] = 2
    assert _malformed_key(d) == "format"
    d = _lib_doc()
    d["format"] = True
    assert _malformed_key(d) == "format"
    d = _lib_doc()
    d["extra"] = 1
    assert _malformed_key(d) == "extra"
    d = _lib_doc()
    d["drugs"] = {}
    assert _malformed_key(d) == "drugs"
    d = _lib_doc()
    d["note"] = 5
    assert _malformed_key(d) == "note"


def test_entry_keys_are_checked():
    d = _lib_doc()
    d["drugs"]["testdrug"]["example"] = "yes"
    assert _malformed_key(d) == "drugs.testdrug.example"
    d = _lib_doc()
    d["drugs"]["testdrug"]["colour"] = "red"
    assert _malformed_key(d) == "drugs.testdrug.colour"
    d = _lib_doc()
    d["drugs"]["TestDrug"] = d["drugs"].pop("testdrug")
    assert _malformed_key(d) == "drugs.TestDrug"
    d = _lib_doc()
    del d["drugs"]["testdrug"]["bolus_dose_ug"]
    assert _malformed_key(d) == "drugs.testdrug.bolus_dose_ug"
    d = _lib_doc()
    d["drugs"]["testdrug"] = [1]
    assert _malformed_key(d) == "drugs.testdrug"


def test_bounds_are_checked():
    d = _lib_doc()
    del d["drugs"]["testdrug"]["bolus_dose_ug"]["hard_max"]
    assert _malformed_key(d) == "drugs.testdrug.bolus_dose_ug.hard_max"
    d = _lib_doc()
    d["drugs"]["testdrug"]["daily_dose_ug_per_day"]["hard_min"] = None
    assert _malformed_key(d) == "drugs.testdrug.daily_dose_ug_per_day.hard_min"
    d = _lib_doc()
    d["drugs"]["testdrug"]["daily_dose_ug_per_day"]["soft_min"] = 5  # below hard_min 10
    assert _malformed_key(d) == "drugs.testdrug.daily_dose_ug_per_day.soft_min"
    d = _lib_doc()
    d["drugs"]["testdrug"]["daily_dose_ug_per_day"]["hard_max"] = 9000  # below soft_max 10000
    assert _malformed_key(d) == "drugs.testdrug.daily_dose_ug_per_day.hard_max"
    d = _lib_doc()
    d["drugs"]["testdrug"]["concentration_ug_per_ml"]["hard_min"] = -1
    assert _malformed_key(d) == "drugs.testdrug.concentration_ug_per_ml.hard_min"
    d = _lib_doc()
    d["drugs"]["testdrug"]["concentration_ug_per_ml"]["soft_max"] = "20000"
    assert _malformed_key(d) == "drugs.testdrug.concentration_ug_per_ml.soft_max"
    d = _lib_doc()
    d["drugs"]["testdrug"]["bolus_dose_ug"]["hard_max"] = 2000000  # 2 g: over the small-int range in ng
    assert _malformed_key(d) == "drugs.testdrug.bolus_dose_ug.hard_max"
    d = _lib_doc()
    d["drugs"]["testdrug"]["bolus_dose_ug"] = _bounds(0, None, None, 0)
    assert _malformed_key(d) == "drugs.testdrug.bolus_dose_ug.hard_max"
    d = _lib_doc()
    d["drugs"]["testdrug"]["bolus_dose_ug"]["max"] = 3
    assert _malformed_key(d) == "drugs.testdrug.bolus_dose_ug.max"


def test_soft_bounds_may_be_absent():
    d = _lib_doc()
    d["drugs"]["testdrug"]["bolus_dose_ug"] = {"hard_min": 1, "hard_max": 100}
    lib = DrugLibrary.from_doc(d)
    assert lib.limits("testdrug").bounds[QTY_BOLUS] == (1000, None, None, 100000)
    assert lib.violation("testdrug", QTY_BOLUS, 1000) is None
    assert lib.violation("testdrug", QTY_BOLUS, 100000) is None
    assert lib.violation("testdrug", QTY_BOLUS, 100001)[0] == E_HARD_LIMIT


def test_unknown_drug():
    lib = DrugLibrary.from_doc(_lib_doc())
    with raises(PumpError) as e:
        lib.limits("aspirin")
    assert e.value.code == E_UNKNOWN_DRUG
    assert e.value.detail.split(":")[0] == "drug.name"
    with raises(PumpError) as e:
        lib.violation("aspirin", QTY_CONC, 1)
    assert e.value.code == E_UNKNOWN_DRUG
    assert lib.limits("TestDrug").name == "testdrug"


def test_violation_levels_and_edges():
    lib = DrugLibrary.from_doc(_lib_doc())
    v = lib.violation
    # Concentration takes whole ug/mL.
    assert v("testdrug", QTY_CONC, 99)[0] == E_HARD_LIMIT
    assert v("testdrug", QTY_CONC, 100)[0] == E_SOFT_LIMIT
    assert v("testdrug", QTY_CONC, 500) is None
    assert v("testdrug", QTY_CONC, 20000) is None
    assert v("testdrug", QTY_CONC, 20001)[0] == E_SOFT_LIMIT
    assert v("testdrug", QTY_CONC, 30000)[0] == E_SOFT_LIMIT
    assert v("testdrug", QTY_CONC, 30001)[0] == E_HARD_LIMIT
    # Daily dose takes ng/day.
    assert v("testdrug", QTY_DAILY, 9999)[0] == E_HARD_LIMIT
    assert v("testdrug", QTY_DAILY, 99999)[0] == E_SOFT_LIMIT
    assert v("testdrug", QTY_DAILY, 10000000) is None
    assert v("testdrug", QTY_DAILY, 10000001)[0] == E_SOFT_LIMIT
    assert v("testdrug", QTY_DAILY, 20000001)[0] == E_HARD_LIMIT
    # Bolus takes ng; a float bound (0.5 ug) is exact.
    assert v("testdrug", QTY_BOLUS, 499)[0] == E_HARD_LIMIT
    assert v("testdrug", QTY_BOLUS, 500)[0] == E_SOFT_LIMIT
    assert v("testdrug", QTY_BOLUS, 1000001)[0] == E_HARD_LIMIT
    text = v("testdrug", QTY_BOLUS, 1000001)[1]
    assert "1000.001" in text and "hard max 1000" in text


def test_lower_false_checks_maxima_only():
    lib = DrugLibrary.from_doc(_lib_doc())
    assert lib.violation("testdrug", QTY_DAILY, 0, False) is None
    assert lib.violation("testdrug", QTY_DAILY, 0)[0] == E_HARD_LIMIT
    assert lib.violation("testdrug", QTY_DAILY, 20000001, False)[0] == E_HARD_LIMIT


def test_check_raises_with_key_and_soft_confirmation():
    lib = DrugLibrary.from_doc(_lib_doc())
    lib.check("testdrug", QTY_CONC, 1000, "drug.concentration_ug_per_ml")
    with raises(PumpError) as e:
        lib.check("testdrug", QTY_CONC, 25000, "drug.concentration_ug_per_ml")
    assert e.value.code == E_SOFT_LIMIT
    assert e.value.detail.split(":")[0] == "drug.concentration_ug_per_ml"
    lib.check("testdrug", QTY_CONC, 25000, "drug.concentration_ug_per_ml", True)
    with raises(PumpError) as e:
        lib.check("testdrug", QTY_CONC, 40000, "drug.concentration_ug_per_ml", True)
    assert e.value.code == E_HARD_LIMIT


def test_shipped_float_bounds_exact():
    lib = DrugLibrary.load(_shipped_path())
    assert lib.violation("ziconotide", QTY_DAILY, 19200) is None
    assert lib.violation("ziconotide", QTY_DAILY, 19201)[0] == E_SOFT_LIMIT
    assert lib.violation("ziconotide", QTY_DAILY, 499)[0] == E_HARD_LIMIT
