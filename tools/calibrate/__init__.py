"""Bench calibration of nL per motor step from weighed water (`python -m tools.calibrate`): calibrate.py."""
