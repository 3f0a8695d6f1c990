"""`python -m tools.sim SCENARIO.json [--json OUT|-] [--plot OUT.png] [--ble ...]` (tools/sim/sim.py says more)."""

import sys

from tools.sim.sim import main

sys.exit(main())
