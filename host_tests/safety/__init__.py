"""Checks flow: sensors, checks (occlusion, sensor faults, stall, battery, over-delivery), alarms, holds, watchdog."""
