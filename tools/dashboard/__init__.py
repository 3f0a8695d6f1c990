"""The phone dashboard (`python -m tools.dashboard`, `make dashboard`): a static Web Bluetooth page, read-only.

web/        the page: index.html, app.js, the decoder frames.js, chart.js, style.css, pumpdefs.json, and the demo
            mode: demo.js plays demo.json (a recorded session) through the live path
webdefs.py  pumpdefs.json generated from the firmware (UUIDs, layouts, names), so the page cannot drift from it
demo.py     demo.json recorded from the simulated pump's BLE service (the scenario in its docstring)
__main__.py checks pumpdefs.json against the firmware, then serves web/ on localhost
"""
