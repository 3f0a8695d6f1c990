"""The emulator suite (make emutest)."""
