"""`python -m tools.calibrate [--csv runs.csv] ...`: nL per step from weighed runs into config.json (calibrate.py)."""

import sys

from tools import cli

from tools.calibrate.calibrate import main

sys.exit(cli(main, "tools.calibrate"))
