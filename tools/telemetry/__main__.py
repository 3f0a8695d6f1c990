"""`python -m tools.telemetry [scan] [--device NAME] ...` (tools/telemetry/telemetry.py says more)."""

import sys

from tools.telemetry.telemetry import main

sys.exit(main())
