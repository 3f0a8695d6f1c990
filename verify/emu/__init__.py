"""Stock MicroPython on an emulated RP2040 (rp2040js under Node), driven from Python: pins, flash and console.

`verify.emu.emulator.Emulator` boots a .uf2 image with a littlefs image built by `verify.emu.lfs.build_image` and
runs it in emulated time; `verify.emu.images` finds the firmware image, the boot ROM and Node. docs/emulator.md
says what is emulated and what is not.
"""
