"""Developer verification of the firmware beyond the host tests: the rp2040js emulator runner (verify/emu)."""
