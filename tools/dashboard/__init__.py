"""The phone dashboard (`python -m tools.dashboard`, `make dashboard`): a static Web Bluetooth page, read-only.

web/        the page: index.html, app.js, the decoder frames.js, chart.js, style.css, pumpdefs.json
webdefs.py  pumpdefs.json generated from the firmware (UUIDs, layouts, names), so the page cannot drift from it
__main__.py checks pumpdefs.json against the firmware, then serves web/ on localhost
"""
