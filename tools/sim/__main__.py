"""`python -m tools.sim SCENARIO.json [--json OUT|-] [--plot OUT.png] [--ble ...]` (tools/sim/sim.py says more)."""

import sys

from tools import cli

from tools.sim.sim import main

sys.exit(cli(main, "tools.sim"))
