"""The telemetry client's pure parts (tools/telemetry/view.py) on the protocol vectors: reassembly and refused frames,
status and alarm text, alarm colours by priority, CSV rows, history lines, back-off; and the command line's
input errors."""

import asyncio
import csv
import datetime
import json
import os
import struct

import pytest
from rich.console import Console

from pump.alarms import A_BATTERY_ERI, A_OCCLUSION, A_RESERVOIR_LOW
from pump.telemetry import STATUS
from support import ROOT
from tools.pumplink import proto as pp
from tools.telemetry import telemetry
from tools.telemetry import view as tv

VECTORS = json.load(open(os.path.join(ROOT, "host_tests", "support", "vectors", "ble_frames.json")))
MESSAGES = {m["name"]: m for m in VECTORS["messages"]}
UUIDS = {"status": pp.STATUS_UUID, "alarm": pp.ALARM_UUID}
WALL = datetime.datetime(2026, 8, 3, 10, 0, 5, tzinfo=datetime.timezone.utc)


def _feed(state, name):
    m = MESSAGES[name]
    return [state.frame(UUIDS[m["characteristic"]], bytes.fromhex(f)) for f in m["frames"]]


def _status(**fields):
    """A status payload: the running vector's values with `fields` changed."""
    d = dict(MESSAGES["status, running"]["decoded"])
    d.update(fields)
    bitmap = sum(1 << (c - 1) for c in d["alarms"])
    return struct.pack(STATUS, d["t_s"], d["mode"], d["state"], d["rate_nl_per_day"], d["today_nl"], d["total_ul"],
                       d["reservoir_nl"], d["empty_day"], d["battery_pct"], bitmap, d["pressure_kpa_x10"],
                       0xFFFF if d["eri_day"] is None else d["eri_day"], d["flags"])


def test_frames_are_reassembled_and_decoded_as_the_vectors_say():
    state = tv.ClientState("PUMP-0001")
    *first, last = _feed(state, "status, running")
    assert first == [None, None] and last == ("status", MESSAGES["status, running"]["decoded"])
    (alarm,) = _feed(state, "alarm: occlusion, sounding")
    assert alarm == ("alarm", MESSAGES["alarm: occlusion, sounding"]["decoded"])
    assert (state.statuses, state.alarms_seen, state.refused) == (1, 1, 0)
    assert state.active_alarms() == [(A_OCCLUSION, "occlusion", 3)]  # the alarm message came last
    _feed(state, "status, held, no readings")
    assert [a[0] for a in state.active_alarms()] == [1, 2, 17]  # now the status's set (codes above 16 too)
    assert _feed(state, "status, held, no readings") == [None, None, None]  # the same message again: nothing new
    assert _feed(state, "status, running")[-1][0] == "status" and state.statuses == 3


def test_refused_frames_are_counted_with_their_reason_and_the_next_message_decodes():
    state = tv.ClientState()
    for n, refused in enumerate(VECTORS["refused_frames"], 1):
        assert state.frame(pp.STATUS_UUID, bytes.fromhex(refused["frame"])) is None
        assert (state.refused, state.refusal) == (n, refused["reason"])
    short = pp.split(b"\x01\x02\x03", 5, 20)[0]  # a well-formed frame whose payload is no status
    assert state.frame(pp.STATUS_UUID, short) is None and (state.refused, state.refusal) == (5, "bad payload")
    assert _feed(state, "status, running")[-1][0] == "status" and state.statuses == 1
    assert state.value(pp.STATUS_UUID, bytes.fromhex(MESSAGES["status, running"]["frames"][0])) is None
    assert (state.refused, state.refusal) == (6, "length")  # a read value must be one whole frame
    one = bytes.fromhex(MESSAGES["status, one frame (MTU 185)"]["frames"][0])
    assert tv.ClientState().value(pp.STATUS_UUID, one) == ("status", MESSAGES["status, running"]["decoded"])


def test_status_fields_in_words():
    st = MESSAGES["status, running"]["decoded"]
    features = MESSAGES["features"]["decoded"]
    assert tv.status_fields(st, features) == [
        ("pump clock", "2026-08-03 08:00:00 UTC"), ("mode", "constant"), ("therapy", "running"),
        ("rate", "400.0 uL/day"), ("delivered today", "183.4 uL"), ("delivered total", "1234 uL"),
        ("reservoir", "18766.6 uL of 40000 uL"), ("projected empty", "2026-09-20 (in 48 days)"),
        ("battery", "97 %, replace by 2029-02-27"), ("pressure", "12.5 kPa")]
    held = dict(tv.status_fields(MESSAGES["status, held, no readings"]["decoded"]))
    assert held["projected empty"] == "never" and held["battery"] == "not read yet"
    assert held["pressure"] == "no sensor" and held["reservoir"] == "0.0 uL" and held["therapy"] == "held"
    assert tv.status_fields(pp.decode_status(_status(mode=255)))[1] == ("mode", "no program")
    one_day = pp.decode_status(_status(empty_day=st["t_s"] // 86400 + 1))
    assert dict(tv.status_fields(one_day))["projected empty"] == "2026-08-04 (in 1 day)"
    # the battery forecast's replacement date, and a clock the pump does not know, said as such (not a time)
    forecast = dict(tv.status_fields(pp.decode_status(_status(eri_day=st["t_s"] // 86400 + 365))))
    assert forecast["battery"] == "97 %, replace by 2027-08-03"
    unset = dict(tv.status_fields(pp.decode_status(_status(flags=1))))
    assert unset["pump clock"] == "NOT SET (set the pump's clock)" and "2026" not in unset["pump clock"]


def test_plain_lines_name_the_alarms_by_priority():
    st = pp.decode_status(_status(alarms=[A_BATTERY_ERI, A_OCCLUSION, A_RESERVOIR_LOW]))
    line = tv.status_line(st)
    assert line.startswith("2026-08-03 08:00:00 UTC constant, running: rate 400.0 uL/day, today 183.4 uL")
    assert line.endswith("alarms: occlusion (high), reservoir low (medium), replace battery (low)")
    assert tv.alarm_line(MESSAGES["alarm: occlusion, sounding"]["decoded"]) == (
        "ALARM HIGH: occlusion since 2026-08-03 07:56:40 UTC")
    quiet = dict(MESSAGES["alarm: occlusion, sounding"]["decoded"], sounding=0, alarms=[1, 3])
    assert tv.alarm_line(quiet) == ("ALARM HIGH: occlusion since 2026-08-03 07:56:40 UTC (silenced or acknowledged); "
                                    "also active: reservoir low")
    assert tv.alarm_line(MESSAGES["alarm: none"]["decoded"]) == "alarms: none active"


def test_the_live_view_draws_each_alarm_in_its_priority_colour():
    state = tv.ClientState("PUMP-0001")
    state.message(pp.STATUS_UUID, _status(alarms=[A_BATTERY_ERI, A_OCCLUSION, A_RESERVOIR_LOW]))
    console = Console(width=100, force_terminal=True, color_system="standard")
    segments = list(console.render(tv.render(state)))

    def style(text):
        return next(s.style for s in segments if text in s.text)

    high, medium, low = style("OCCLUSION (HIGH)"), style("RESERVOIR LOW (MEDIUM)"), style("REPLACE BATTERY (LOW)")
    assert high.bgcolor.name == "red" and high.bold
    assert medium.color.name == "yellow" and medium.bgcolor is None
    assert low.color.name == "cyan"
    text = "".join(s.text for s in segments)
    assert text.index("OCCLUSION") < text.index("RESERVOIR LOW") < text.index("REPLACE BATTERY")
    assert "PUMP-0001" in text and "18766.6 uL" in text and "refused frames: 0" in text
    calm = tv.ClientState()
    calm.message(pp.STATUS_UUID, _status(alarms=[]))
    calm.refused, calm.refusal = 2, "crc"
    text = "".join(s.text for s in console.render(tv.render(calm)))
    assert "no active alarm" in text and "refused frames: 2 (last: crc)" in text
    assert "waiting for the first status" in "".join(s.text for s in console.render(tv.render(tv.ClientState())))


def test_csv_rows_carry_units_in_their_names_and_the_header_once(tmp_path):
    path = str(tmp_path / "log.csv")
    log = tv.CsvLog(path)
    log.write("status", MESSAGES["status, running"]["decoded"], WALL)
    log.close()
    log = tv.CsvLog(path)  # appending to the same file: no second header
    log.write("alarm", MESSAGES["alarm: occlusion, sounding"]["decoded"], WALL + datetime.timedelta(seconds=1))
    log.write("status", MESSAGES["status, held, no readings"]["decoded"], WALL + datetime.timedelta(seconds=2))
    log.close()
    with open(path) as f:
        assert f.readline().strip() == ",".join(tv.CSV_COLUMNS)
    rows = list(csv.DictReader(open(path)))
    assert [r["kind"] for r in rows] == ["status", "alarm", "status"]
    assert rows[0] == {**dict.fromkeys(tv.CSV_COLUMNS, ""),
        "wall_time": "2026-08-03T10:00:05+00:00", "kind": "status", "pump_time": "2026-08-03 08:00:00",
        "mode": "constant", "state": "running", "rate_ul_per_day": "400.000", "today_ul": "183.400",
        "total_ul": "1234", "reservoir_ul": "18766.600", "empty_date": "2026-09-20", "battery_pct": "97",
        "pressure_kpa": "12.5", "alarms": "OCCLUSION_SENSING_UNAVAILABLE"}
    assert {k: rows[1][k] for k in ("alarm", "alarm_priority", "alarm_since", "sounding", "alarms", "state")} == {
        "alarm": "OCCLUSION", "alarm_priority": "high", "alarm_since": "2026-08-03 07:56:40",
        "sounding": "OCCLUSION", "alarms": "OCCLUSION", "state": ""}
    assert (rows[2]["empty_date"], rows[2]["battery_pct"], rows[2]["pressure_kpa"]) == ("", "", "")
    assert rows[2]["alarms"] == "OCCLUSION RESERVOIR_EMPTY DRUG_LIBRARY_FAULT"  # code 17: past the old u16


def test_history_lines_say_what_each_record_means():
    rec = MESSAGES["history record"]["decoded"]
    assert tv.history_detail(rec) == "dose_ng 100000, patient"

    def detail(code, a=0, b=0):
        from pump import events

        names = events.args(code)
        return tv.history_detail({"a_name": names[0], "b_name": names[1], "a": a, "b": b})

    from pump import events

    assert detail(events.ALARM_RAISED, A_OCCLUSION) == "alarm occlusion"
    assert detail(events.SUSPEND, 0) == "by the user" and detail(events.SUSPEND, 2) == "by alarm reservoir empty"
    assert detail(events.BOLUS_REFUSED, 301, 2) == "E301 %s, clinician" % pp.result_text(301)
    assert detail(events.PROGRAM, 2) == "flex" and detail(events.BOOT, 1) == "cause watchdog"
    assert detail(events.STORE_CORRUPT, 3, 2) == "count 3, store log" and detail(events.RESUME) == ""
    lines = tv.history_lines([rec, dict(rec, seq=43, t_s=0, code=11, text="resumed", a_name="", b_name="")])
    assert lines[0].split() == ["seq", "time", "event", "detail"]
    assert lines[1] == "%8d  %-19s  %-20s  %s" % (42, "2026-08-03 07:58:43 UTC", "bolus granted",
                                                  "dose_ng 100000, patient")
    assert lines[2] == "%8d  %-19s  %s" % (43, "clock not set", "resumed")


def test_history_lines_name_every_kind_of_bolus_by_the_event_log_numbers():
    from pump import events

    for name, code, a, b, detail in (
        ("history record: bolus cancelled (clinician)", events.BOLUS_CANCELLED, 36000, events.BOLUS_CLINICIAN,
         "delivered_ng 36000, clinician"),
        ("history record: bolus done (periodic)", events.BOLUS_DONE, 50000, events.BOLUS_PERIODIC,
         "delivered_ng 50000, periodic"),
    ):
        rec = MESSAGES[name]["decoded"]
        assert (rec["code"], rec["a"], rec["b"]) == (code, a, b)
        assert tv.history_detail(rec) == detail
    assert tv.history_detail(MESSAGES["history record"]["decoded"]) == "dose_ng 100000, patient"
    unknown = dict(MESSAGES["history record"]["decoded"], b=9)
    assert tv.history_detail(unknown) == "dose_ng 100000, kind 9"  # from a newer firmware


def test_scan_list_backoff_and_what_counts_as_a_pump():
    pumps = [{"name": "PUMP-0A0B", "address": "00:00:00:00:0A:0B", "rssi": -48}]
    assert tv.scan_lines(pumps) == ["PUMP-0A0B  00:00:00:00:0A:0B   -48 dBm"] and tv.scan_lines([]) == []
    assert [tv.backoff_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert tv.backoff_s(3, 0.05) == 0.2
    assert pp.is_pump("PUMP-0A0B") and not pp.is_pump("pump-0a0b") and not pp.is_pump(None)
    assert pp.is_pump("", [pp.SERVICE_UUID.upper()])
    assert not pp.is_pump("Keyboard", ["0000180f-0000-1000-8000-00805f9b34fb"])


@pytest.mark.parametrize("argv", [["--duration", "0"], ["--once", "--duration", "5"], ["--duration", "x"],
                                  ["list"]])
def test_bad_arguments_are_refused_before_anything_is_opened(argv, capsys):
    with pytest.raises(SystemExit) as e:
        asyncio.run(telemetry.run(argv, transport=object()))
    assert e.value.code == 2 and "python -m tools.telemetry" in capsys.readouterr().err


def test_bad_values_exit_with_code_2(tmp_path):
    from tools.keys import keys

    out = []
    path = str(tmp_path / "keys.json")
    assert asyncio.run(telemetry.run(["--retries", "-1"], transport=object(), out=out.append)) == 2
    assert asyncio.run(telemetry.run(["--keys", path], transport=object(), out=out.append)) == 2
    keys.create(path)
    assert asyncio.run(telemetry.run(["--csv", str(tmp_path / "no" / "x.csv"), "--keys", path], transport=object(),
                                     out=out.append)) == 2
    assert out[0] == "telemetry: --retries: must be 0 or more"
    assert out[1].startswith("telemetry: --keys: %s: no such file" % path)  # the monitor key opens the session
    assert out[2].startswith("telemetry: --csv: ")
