"""The clinician programmer (`python -m tools.programmer`): check a prescription offline, simulate it, send it.

programmer.py  the command line: check, send and the clinician commands, through a link (tools/pumplink)
report.py      the offline report of a checked prescription, read from the firmware's own objects
"""
