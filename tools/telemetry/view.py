"""What the telemetry client shows and logs, as pure functions of what the pump sent: the client's state (frames in,
messages decoded, refused frames counted), status and alarm text, alarm highlighting, CSV rows, history lines, the
scan list, reconnection back-off and the rich live view. No I/O but the CSV file; tools/telemetry/telemetry.py runs it.
"""

import csv
import datetime
import os
import struct

from tools.pumplink import proto as pp
from tools.pumplink.link import EPOCH, local_text

from pump.config import RESET_OTHER, RESET_POWER_ON, RESET_SOFT, RESET_WATCHDOG
from pump.therapy import MODE_NAMES

PRIORITY_NAMES = {3: "high", 2: "medium", 1: "low"}
# rich styles of the alarm priorities: high red (reversed, it must not be missed), medium yellow, low cyan
PRIORITY_STYLES = {3: "bold white on red", 2: "bold yellow", 1: "cyan"}
CSV_COLUMNS = (
    "wall_time", "kind", "pump_time", "mode", "state", "rate_ul_per_day", "today_ul", "total_ul", "reservoir_ul",
    "empty_date", "battery_pct", "pressure_kpa", "alarms", "alarm", "alarm_priority", "alarm_since", "sounding",
)
BACKOFF_MAX_S = 30.0
_RESETS = {RESET_POWER_ON: "power on", RESET_WATCHDOG: "watchdog", RESET_SOFT: "soft", RESET_OTHER: "other"}
_STORES = {1: "state", 2: "log"}


# ---- the client's state ----


class ClientState:
    """What the client knows of the pump: the last status, alarm and features, the link's state, and the frames it
    refused. `frame(uuid, frame)` takes one status or alarm frame; a refused frame is counted, never raised."""

    def __init__(self, device=None):
        self.device = device
        self.features = None
        self.status = None
        self.alarm = None
        self.statuses = 0
        self.alarms_seen = 0
        self.refused = 0
        self.refusal = ""
        self.link = "connecting"
        self._rx = {}
        self._last = {}
        self._active = []

    def frame(self, uuid, frame):
        """("status" | "alarm", decoded dict) when a notified or indicated frame completes a message, else None."""
        rx = self._rx.setdefault(uuid, pp.Reassembler(64))
        return self._checked(uuid, rx.feed, frame)

    def value(self, uuid, value):
        """The same for a value read: one whole frame."""
        return self._checked(uuid, pp.Reassembler.unframe, value)

    def _checked(self, uuid, unframe, data):
        try:
            payload = unframe(data)
            if payload is None:
                return None
            return self.message(uuid, payload)
        except (ValueError, struct.error) as e:  # FrameError (CRC, version, order, length), or a wrong-size payload
            self.refused += 1
            self.refusal = getattr(e, "reason", "") or "bad payload"
            return None

    def message(self, uuid, payload):
        """A complete status or alarm message (a read value unframed, or reassembled notifications); None when it
        repeats the last one of its kind (the value read at connection, then notified as the link is encrypted)."""
        if self._last.get(uuid) == payload:
            return None
        self._last[uuid] = payload
        if uuid == pp.STATUS_UUID:
            self.status = pp.decode_status(payload)
            self.statuses += 1
            self._active = self.status["alarms"]
            return "status", self.status
        self.alarm = pp.decode_alarm(payload)
        self.alarms_seen += 1
        self._active = self.alarm["alarms"]
        return "alarm", self.alarm

    def active_alarms(self):
        """[(code, text, priority)] of the active alarms, highest priority first, from the newer of the last status
        and the last alarm message (each carries the whole active set)."""
        out = [(c, pp.ALARM_TEXTS.get(c, "alarm %d" % c), pp.ALARM_PRIORITIES.get(c, 0)) for c in self._active]
        return sorted(out, key=lambda a: (-a[2], a[0]))


# ---- text ----


def pump_time(t_s):
    """The pump's wall clock (s since 2000-01-01 UTC) as UTC text: the CSV's pump_time column."""
    return (EPOCH + datetime.timedelta(seconds=t_s)).strftime("%Y-%m-%d %H:%M:%S")


def local_time(t_s):
    """The pump's wall clock in the laptop's local time with its zone: what the views show."""
    return local_text(t_s)


def day_date(day):
    return (EPOCH + datetime.timedelta(days=day)).date().isoformat()


def _ul(nl):
    return "%.1f uL" % (nl / 1000)


def status_fields(st, features=None):
    """[(label, text)] of a decoded status, in the order the live view shows them."""
    reservoir = _ul(st["reservoir_nl"])
    if features:
        reservoir += " of %d uL" % features["reservoir_ul"]
    if st["empty_day"] is None:
        empty = "never"
    else:
        days_left = st["empty_day"] - st["t_s"] // 86400
        empty = "%s (in %d day%s)" % (day_date(st["empty_day"]), days_left, "" if days_left == 1 else "s")
    return [
        ("pump clock", "NOT SET (set the pump's clock)" if st.get("clock_unset") else local_time(st["t_s"])),
        ("mode", st["mode_name"] or "no program"),
        ("therapy", st["state_name"]),
        ("rate", "%.1f uL/day" % (st["rate_nl_per_day"] / 1000)),
        ("delivered today", _ul(st["today_nl"])),
        ("delivered total", "%d uL" % st["total_ul"]),
        ("reservoir", reservoir),
        ("projected empty", empty),
        ("battery", ("not read yet" if st["battery_pct"] is None else "%d %%" % st["battery_pct"])
         + ("" if st.get("eri_day") is None else ", replace by %s" % day_date(st["eri_day"]))),
        ("pressure", "no sensor" if st["pressure_kpa_x10"] is None else "%.1f kPa" % (st["pressure_kpa_x10"] / 10)),
    ]


def alarm_label(code, text, priority):
    return "%s (%s)" % (text, PRIORITY_NAMES.get(priority, "priority %d" % priority))


def status_line(st):
    """One plain-text line per status (the view when stdout is not a terminal)."""
    f = dict(status_fields(st))
    alarms = ", ".join(alarm_label(c, pp.ALARM_TEXTS.get(c, "alarm %d" % c), pp.ALARM_PRIORITIES.get(c, 0))
                       for c in sorted(st["alarms"], key=lambda c: (-pp.ALARM_PRIORITIES.get(c, 0), c)))
    return "%s %s, %s: rate %s, today %s, total %s, reservoir %s, empty %s, battery %s, pressure %s, alarms: %s" % (
        f["pump clock"], f["mode"], f["therapy"], f["rate"], f["delivered today"], f["delivered total"],
        f["reservoir"], f["projected empty"], f["battery"], f["pressure"], alarms or "none")


def alarm_line(al):
    """One plain-text line per alarm message: the highest active alarm in capitals, or that none is active."""
    if not al["code"]:
        return "alarms: none active"
    text = pp.ALARM_TEXTS.get(al["code"], "alarm %d" % al["code"])
    quiet = "" if al["sounding"] else " (silenced or acknowledged)"
    line = "ALARM %s: %s since %s%s" % (PRIORITY_NAMES.get(al["priority"], "?").upper(), text,
                                       local_time(al["since_s"]), quiet)
    others = [pp.ALARM_TEXTS.get(c, str(c)) for c in al["alarms"] if c != al["code"]]
    return line + ("; also active: " + ", ".join(others) if others else "")


def scan_lines(pumps):
    if not pumps:
        return []
    return ["%-10s %-18s %4d dBm" % (p["name"], p["address"], p["rssi"]) for p in pumps]


def backoff_s(attempt, base_s=1.0):
    """Wait before reconnection attempt `attempt` (1, 2, ...): doubling from base_s, at most BACKOFF_MAX_S."""
    return min(base_s * 2 ** (attempt - 1), BACKOFF_MAX_S)


# ---- history ----


def _detail(name, value):
    if name == "alarm":
        return "alarm " + pp.ALARM_TEXTS.get(value, str(value))
    if name == "error":
        return "E%d %s" % (value, pp.result_text(value))
    if name == "kind":
        return pp.kind_text(value)
    if name == "store":
        return "store " + _STORES.get(value, str(value))
    if name == "mode":
        return MODE_NAMES[value] if 0 <= value < len(MODE_NAMES) else "mode %d" % value
    if name == "reset_cause":
        return "cause " + _RESETS.get(value, str(value))
    if name == "reason":
        return "by the user" if value == 0 else "by alarm " + pp.ALARM_TEXTS.get(value, str(value))
    return "%s %d" % (name, value)


def history_detail(rec):
    """The arguments of an event-log record in words (tools.pumplink.proto.decode_history's fields)."""
    return ", ".join(_detail(n, v) for n, v in ((rec["a_name"], rec["a"]), (rec["b_name"], rec["b"])) if n)


def history_lines(records):
    """The event log as text: a header, then one line per record (sequence, time, event, detail)."""
    lines = ["%8s  %-19s  %-20s  %s" % ("seq", "time", "event", "detail")]
    for r in records:
        when = local_time(r["t_s"]) if r["t_s"] else "clock not set"
        lines.append(("%8d  %-19s  %-20s  %s" % (r["seq"], when, r["text"], history_detail(r))).rstrip())
    return lines


# ---- CSV ----


def csv_row(kind, msg, wall):
    """The CSV row (dict over CSV_COLUMNS) of a status or alarm message received at laptop time `wall`."""
    row = dict.fromkeys(CSV_COLUMNS, "")
    row["wall_time"] = wall.isoformat(timespec="seconds")
    row["kind"] = kind
    if kind == "status":
        row.update({
            "pump_time": pump_time(msg["t_s"]), "mode": msg["mode_name"] or "no program", "state": msg["state_name"],
            "rate_ul_per_day": "%.3f" % (msg["rate_nl_per_day"] / 1000), "today_ul": "%.3f" % (msg["today_nl"] / 1000),
            "total_ul": msg["total_ul"], "reservoir_ul": "%.3f" % (msg["reservoir_nl"] / 1000),
            "empty_date": "" if msg["empty_day"] is None else day_date(msg["empty_day"]),
            "battery_pct": "" if msg["battery_pct"] is None else msg["battery_pct"],
            "pressure_kpa": "" if msg["pressure_kpa_x10"] is None else "%.1f" % (msg["pressure_kpa_x10"] / 10),
        })
    else:
        row.update({"alarm": pp.ALARM_NAMES.get(msg["code"], ""), "sounding": pp.ALARM_NAMES.get(msg["sounding"], ""),
                    "alarm_priority": PRIORITY_NAMES.get(msg["priority"], "") if msg["code"] else "",
                    "alarm_since": pump_time(msg["since_s"]) if msg["code"] else ""})
    row["alarms"] = " ".join(pp.ALARM_NAMES.get(c, str(c)) for c in msg["alarms"])
    return row


class CsvLog:
    """Appends rows to a CSV file, with the header when the file is new or empty; each row is flushed."""

    def __init__(self, path):
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._file = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._file, CSV_COLUMNS)
        if new:
            self._writer.writeheader()
            self._file.flush()

    def write(self, kind, msg, wall):
        self._writer.writerow(csv_row(kind, msg, wall))
        self._file.flush()

    def close(self):
        self._file.close()


# ---- the rich live view ----


def alarm_style(priority):
    return PRIORITY_STYLES.get(priority, "bold")


def render(state):
    """The live view of a ClientState: a status panel, the active alarms in their priority colours, the link."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    title = state.device or "pump"
    if state.status is None:
        body = Text("waiting for the first status")
    else:
        body = Table.grid(padding=(0, 2))
        body.add_column(style="dim")
        body.add_column()
        for label, value in status_fields(state.status, state.features):
            body.add_row(label, value)
    alarms = Table(title=None, show_header=False, box=None, padding=(0, 1))
    alarms.add_column()
    active = state.active_alarms()
    for code, text, priority in active:
        label = " %s " % alarm_label(code, text, priority).upper()
        if state.alarm and state.alarm["code"] == code:
            label += " since %s%s" % (pump_time(state.alarm["since_s"]),
                                      "" if state.alarm["sounding"] else ", silenced")
        alarms.add_row(Text(label, style=alarm_style(priority)))
    if not active:
        alarms.add_row(Text("no active alarm", style="green"))
    footer = "link: %s  statuses: %d  refused frames: %d%s" % (
        state.link, state.statuses, state.refused, " (last: %s)" % state.refusal if state.refused else "")
    return Group(Panel(body, title=title), Panel(alarms, title="alarms"),
                 Text(footer, style="red" if state.refused else "dim"))
