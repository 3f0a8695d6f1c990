"""`python -m tools.programmer check|send|refill|...` (tools/programmer/programmer.py says more)."""

import sys

from tools import cli

from tools.programmer.programmer import main

sys.exit(cli(main, "tools.programmer"))
