"""`python -m tools.telemetry [scan] [--device NAME] ...` (tools/telemetry/telemetry.py says more)."""

import sys

from tools import cli

from tools.telemetry.telemetry import main

sys.exit(cli(main, "tools.telemetry"))
