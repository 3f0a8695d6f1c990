"""Freeze manifest of a pump firmware image: lib/pump and the board package as bytecode in flash, not in the heap.

Read by MicroPython's own build (its FROZEN_MANIFEST), never imported; docs/boards.md ("A frozen firmware image")
says how it is used and what it saves. Relative paths are taken from this folder. A FROZEN_MANIFEST replaces the
port's default one, so the modules a board port cannot start without (its `modules/` folder: _boot.py mounts the
filesystem) and asyncio are frozen here too; the port's optional extras (networking bundle, mip, drivers) are left out.
Options, when another manifest includes this one: port=False leaves the port's modules out (the unix port has none),
sim=True adds the simulated board (the board.sim package, its fake BLE radio included) for measurements on the unix
port: its code, which stands in for the hardware and for the C `bluetooth` module, then takes no heap either. Nothing
else host-only is frozen: no test and no tool.
"""

# manifest functions (options, freeze, include, package) are globals of MicroPython's manifest runner
options.defaults(port=True, sim=False)  # noqa: F821

if options.port:  # noqa: F821
    freeze("$(PORT_DIR)/modules")  # noqa: F821
include("$(MPY_DIR)/extmod/asyncio")  # noqa: F821

package("pump", base_path="../lib")  # noqa: F821
# the simulated board's package, host-only (sim=True)
_SIM_FILES = ["__init__.py", "aes.py", "bleconst.py", "clock.py", "flash.py", "hardware.py", "hydraulics.py",
              "plant.py", "radio.py", "roles.py"]
# both boards' modules: board/__init__ imports only the one for sys.platform; the other costs a few KB of flash
_BOARD_FILES = ["__init__.py", "drivers.py", "links.py", "failsafe.py", "pico_w.py", "esp32_devkit.py"]
if options.sim:  # noqa: F821
    _BOARD_FILES += ["sim/" + name for name in _SIM_FILES]
package("board", files=_BOARD_FILES, base_path="..")  # noqa: F821
