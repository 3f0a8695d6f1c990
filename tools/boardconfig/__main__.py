"""`python -m tools.boardconfig [--config FILE] [--board NAME] show|set KEY=VALUE ...` (boardconfig.py says more)."""

import sys

from tools import cli

from tools.boardconfig.boardconfig import main

sys.exit(cli(main, "tools.boardconfig"))
