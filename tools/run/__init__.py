"""`make run`: the firmware's main.py on the MicroPython unix port with the simulated board (tools/run/run.py)."""
