"""Persistence: the two-slot stores, the event log, power cuts at every byte, the boot from what the stores hold."""
