"""The telemetry client (`python -m tools.telemetry`): find pumps, follow one live, log it to CSV, dump its history.

telemetry.py  the command line and Monitor (subscribe, follow, reconnect with back-off); the displays
view.py       pure: what the client shows and logs, from what the pump sent
"""
