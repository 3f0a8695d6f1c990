"""What the app's tests share: the setup a board hands the app (a flex program over a boundary), the app built as
board.start builds it, and a stand-in for the gc module."""

import os

from pump.app import App, load_library
from pump.config import PumpConfig
from support import ROOT

LIBRARY = os.path.join(ROOT, "lib", "druglib.json")  # the shipped library, as on a board

# 0.4321 mL/day from 23:00, 0.5999 mL/day from 00:30: steps never fall on a boundary's ms
SETUP = {
    "fill_ul": 20000,
    "prescription": {
        "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
        "therapy": {
            "mode": "flex",
            "steps": [{"start": "00:00", "dose_ug_per_day": 4321}, {"start": "00:30", "dose_ug_per_day": 5999}],
        },
    },
}


class CheapGc:
    """Stands in for the gc module in pump.app: CPython's full collection each pump-time second would be slow."""

    collections = 0

    @classmethod
    def collect(cls):
        cls.collections += 1


def new_app(hw, out, pump_config=None, setup=SETUP, library_path=LIBRARY):
    """The app on `hw` with its arguments as board.start gives them (the library's refusal printed on `out`)."""
    return App(hw, PumpConfig(pump_config), load_library(library_path, out), setup, out=out)
