"""A board on USB: build the .mpy firmware and deploy it (`python -m tools.deploy`), read its console.

deploy.py     build, copy firmware + config.json + keys.json via mpremote, verify (`make deploy`, `make maintenance`)
mpy_build.py  mpy-cross per board (`make mpy`), and the MicroPython syntax check of `make lint`
logs.py       the board's console with timestamps, read-only (`make logs`, `python -m tools.deploy.logs`)
"""
