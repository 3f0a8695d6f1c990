"""The one drug library of the tests (lib/druglib.json is the shipped one; its own tests read that file).

`morphine` has the shipped example library's morphine limits (the pump rigs program it); `wide` has limits that never
bite (for the structural and range rules of a prescription); `tight` has limits to break (for the library rules).
"""

from pump.druglib import DrugLibrary


def bounds(hard_min, soft_min, soft_max, hard_max):
    """One quantity's limits as the library file writes them (None: no soft limit on that side)."""
    return {"hard_min": hard_min, "soft_min": soft_min, "soft_max": soft_max, "hard_max": hard_max}


LIBRARY_DOC = {
    "format": 1,
    "version": "test",
    "drugs": {
        "morphine": {
            "concentration_ug_per_ml": bounds(500, 1000, 25000, 30000),
            "daily_dose_ug_per_day": bounds(50, 100, 15000, 20000),
            "bolus_dose_ug": bounds(10, 25, 500, 1000),
        },
        "wide": {
            "concentration_ug_per_ml": bounds(1, None, None, 1000000),
            "daily_dose_ug_per_day": bounds(0, None, None, 1073741.823),
            "bolus_dose_ug": bounds(0, None, None, 1073741.823),
        },
        "tight": {
            "concentration_ug_per_ml": bounds(100, 500, 20000, 30000),
            "daily_dose_ug_per_day": bounds(10, 100, 10000, 20000),
            "bolus_dose_ug": bounds(1, 10, 500, 1000),
        },
    },
}

LIB = DrugLibrary.from_doc(LIBRARY_DOC)
