"""The board's config file, config.json (`python -m tools.boardconfig show|set`): boardconfig.py, on the firmware's
own checks."""
