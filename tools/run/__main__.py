"""`python -m tools.run [DAYS=n] [SPEED=x] [RX=file]`: check the knobs, then run main.py on the unix port."""

import sys

from tools import cli

from tools.run.run import main

sys.exit(cli(main, "tools.run"))
