"""The pump keys file, keys.json (`python -m tools.keys`, `make keys`): keys.py makes, loads and checks one."""
