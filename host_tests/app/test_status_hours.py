"""The console's status lines stay on the wall clock's hour however late the sleeps end (issue 16, item 3)."""

import os


from support import ROOT


# ---- item 3: make run's status lines stay on the hour ----

def test_status_lines_stay_on_the_hour_when_every_sleep_overshoots():
    """A loaded host wakes every sleep late: the console line must stay on the wall clock's hour (06:01, 17:01 and a
    snap back at midnight were what users saw), and start its grid however late the pump booted."""
    import asyncio

    from board.sim import build
    from board.sim.clock import SimRtc, VirtualClock
    from board.sim.hardware import DEMO_SETUP
    from board.sim.plant import Plant
    from pump.app import App, load_library
    from pump.config import PumpConfig

    class LateClock(VirtualClock):
        async def sleep_ms(self, ms):
            await super().sleep_ms(ms + 1234)  # every sleep ends 1.234 s late

    clock = LateClock()
    wall0_s = 838857600 + 7 * 60  # 2026-08-01 00:07: the pump booted a few minutes after the hour
    hw = build({"clock": clock, "plant": Plant(fill_ul=20000), "rtc": SimRtc(clock, wall0_s)})
    lines = []
    app = App(hw, PumpConfig(None), load_library(os.path.join(ROOT, "lib", "druglib.json"), lines.append),
              DEMO_SETUP, out=lines.append)
    asyncio.run(app.run(50 * 3600000))
    stamps = [line[:16] for line in lines if line.startswith("2026-")]
    assert stamps[0] == "2026-08-01 00:07"
    hourly = stamps[1:-1]  # the last line is run()'s own at the end
    assert len(hourly) >= 48
    assert all(s.endswith(":00") for s in hourly), hourly
    assert hourly[:2] == ["2026-08-01 01:00", "2026-08-01 02:00"] and "2026-08-03 00:00" in hourly
