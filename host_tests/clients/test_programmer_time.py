"""The pump keeps UTC: the programmer's set-clock sends UTC whatever the laptop's zone (a time typed with --at is the
laptop's local time, converted), and the clients show pump times in the laptop's local time with its zone."""

import datetime
import json
import time

from support.simpump import SimPump, run_programmer
from tools.pumplink.link import local_text, wall_s
from tools.telemetry import view as tv


def _zone(monkeypatch, zone):
    monkeypatch.setenv("TZ", zone)
    time.tzset()


def test_set_clock_at_a_local_time_sends_that_instant_in_utc(tmp_path, monkeypatch):
    _zone(monkeypatch, "America/New_York")  # EDT in August, UTC-4
    sim = SimPump()
    code, out = run_programmer(tmp_path, sim, "set-clock", "--at", "2026-08-03 08:00")
    assert code == 0, out
    utc = wall_s(datetime.datetime(2026, 8, 3, 12, 0))
    assert sim.pump.wall_s(sim.clock.ticks_ms()) == utc
    assert out[0] == "set-clock: 2026-08-03 08:00 EDT (UTC-04:00), sent as 2026-08-03 12:00 UTC"


def test_set_clock_now_sends_utc_not_the_laptops_local_time(tmp_path, monkeypatch):
    _zone(monkeypatch, "Asia/Tokyo")  # UTC+9 all year: the local time is 9 h away from UTC
    sim = SimPump()
    before = int(time.time()) - 946684800  # 2000-01-01 00:00 UTC in Unix seconds
    code, out = run_programmer(tmp_path, sim, "set-clock")
    after = int(time.time()) - 946684800
    assert code == 0, out
    assert before - 1 <= sim.pump.wall_s(sim.clock.ticks_ms()) <= after + 1


def test_the_clients_show_pump_times_in_local_time_with_the_zone(tmp_path, monkeypatch):
    t_s = wall_s(datetime.datetime(2026, 1, 15, 12, 0))  # noon UTC
    assert local_text(t_s) == "2026-01-15 12:00:00 UTC"
    _zone(monkeypatch, "Europe/Berlin")
    assert local_text(t_s) == "2026-01-15 13:00:00 CET (UTC+01:00)"
    assert local_text(t_s, False) == "2026-01-15 13:00 CET (UTC+01:00)"
    st = {"t_s": t_s}
    assert dict(tv.status_fields(dict(_STATUS, **st)))["pump clock"] == "2026-01-15 13:00:00 CET (UTC+01:00)"
    assert tv.pump_time(t_s) == "2026-01-15 12:00:00"  # the CSV's column stays UTC
    sim = SimPump(when=datetime.datetime(2026, 1, 15, 12, 0))
    code, out = run_programmer(tmp_path, sim, "status")
    assert code == 0 and out[-2].endswith(", pump clock 2026-01-15 13:00:00 CET (UTC+01:00)")
    assert json.loads(out[-1].split(": ", 1)[1])["t_s"] == t_s


_STATUS = {"mode_name": "constant", "state_name": "running", "rate_nl_per_day": 0, "today_nl": 0, "total_ul": 0,
           "reservoir_nl": 0, "empty_day": None, "battery_pct": None, "pressure_kpa_x10": None, "alarms": [],
           "eri_day": None, "flags": 0, "clock_unset": False}
