"""`python -m tools.keys [--out keys.json]`: a new keys file, never overwriting one (tools/keys/keys.py)."""

import sys

from tools import cli

from tools.keys.keys import main

sys.exit(cli(main, "tools.keys"))
