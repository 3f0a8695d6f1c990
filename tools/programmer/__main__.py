"""`python -m tools.programmer check|send|refill|...` (tools/programmer/programmer.py says more)."""

import sys

from tools.programmer.programmer import main

sys.exit(main())
