"""`python -m tools.deploy --board pico_w|esp32_devkit [--port DEV] ...` (tools/deploy/deploy.py says more)."""

import sys

from tools import cli

from tools.deploy.deploy import main

sys.exit(cli(main, "tools.deploy"))
