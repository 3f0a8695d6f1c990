"""The programmer's link to a pump: one seam (a named command with its arguments in, a reply dict out), a local link
straight onto the firmware's Pump object, and a dry run. The BLE link (tools/pumplink/proto.py frames, clinician key)
implements the same seam.

A refusal by the pump is raised as the pump's own PumpError (code and key); a link that cannot reach or
authenticate to the pump raises LinkError.
"""

import datetime

from pump.cmdauth import ROLE_CLINICIAN
from pump.errors import E_MALFORMED, PumpError
from pump.telemetry import STATUS_LEN, Telemetry
from pump.units import ug_to_ng
from tools.pumplink.proto import decode_status

# command -> the arguments it takes (all optional ones may be left out)
COMMANDS = {
    "program": ("prescription", "confirm_soft", "confirm_battery"),
    "refill": ("fill_ul", "concentration_ug_per_ml", "aspirated_ul"),
    "prime": ("volume_ul",),
    "bolus": ("dose_ug", "duration_min", "confirm_soft"),
    "suspend": (),
    "resume": (),
    "resume_alarm": (),
    "stop": (),
    "set_clock": ("wall_s",),
    "acknowledge": ("code",),
    "silence": ("ms",),
    "status": (),
    "trial": ("trial", "confirm_soft"),
    "pain_score": ("score", "baseline", "side_effects", "free_code"),
}
EPOCH = datetime.datetime(2000, 1, 1)  # the pump's wall clock counts UTC seconds from here (docs/roles.md: hw.rtc)


class LinkError(Exception):
    """The pump could not be reached, or the link could not authenticate."""


def wall_s(when):
    """Seconds since 2000-01-01 00:00 UTC, the pump's wall clock, of a datetime: an aware one in any zone is converted
    to UTC; a naive one is taken as UTC already (never as the laptop's local time: use `.astimezone()` for that)."""
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return int((when - EPOCH).total_seconds())


def local_text(t_s, seconds=True):
    """A pump time (s since 2000-01-01 UTC) in the laptop's local time with its zone: "2026-08-03 04:00:00 EDT
    (UTC-04:00)", or "... UTC" where the laptop keeps UTC."""
    when = (EPOCH + datetime.timedelta(seconds=t_s)).replace(tzinfo=datetime.timezone.utc).astimezone()
    text = when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    off = when.utcoffset()
    if not off:
        return text + " UTC"
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return "%s %s (UTC%s%02d:%02d)" % (text, when.tzname(), sign, minutes // 60, minutes % 60)


def refill_answer(expected_ul, _aspirated_ul, tolerance_ul, discrepancy_ul):
    """The reconciliation fields of a refill's reply (None: the expected residual is unknown)."""
    return {"expected_ul": expected_ul, "tolerance_ul": tolerance_ul, "discrepancy_ul": discrepancy_ul}


def check_call(command, args):
    """Refuse an unknown command or argument before anything is sent."""
    if command not in COMMANDS:
        raise PumpError(E_MALFORMED, "command: %r" % command)
    for key in args:
        if key not in COMMANDS[command]:
            raise PumpError(E_MALFORMED, "%s.%s: unknown argument" % (command, key))


class Link:
    """The seam: `call(command, **args) -> dict` and `close()`."""

    def call(self, command, **args):
        raise NotImplementedError

    def close(self):
        pass


class LocalLink(Link):
    """Commands applied directly to a Pump (lib/pump/controller.py) at ticks `now()`, as the pump's BLE service
    applies them (pump/commands.py), with the same replies as the BLE link: the reference the other links must agree
    with, and what the tests program."""

    def __init__(self, pump, now):
        self.pump = pump
        self.now = now

    def call(self, command, **args):
        check_call(command, args)
        p = self.pump
        now = self.now()
        out = {"ok": True}
        if command == "status":
            buf = bytearray(STATUS_LEN)
            Telemetry(p).status(buf, now)
            return decode_status(buf)
        if command == "program":
            p.program(args["prescription"], args.get("confirm_soft", False), now, True,
                      args.get("confirm_battery", False))
            out["eri_days"] = p.forecast.eri_days
            out["eos_days"] = p.forecast.eos_days
        elif command == "refill":
            p.refill(args["fill_ul"], args.get("concentration_ug_per_ml") or None, now, args.get("aspirated_ul"))
            out["bridge_nl"] = p.plan.catheter.old_nl
            out.update(refill_answer(*p.last_refill))
        elif command == "prime":
            p.prime(args.get("volume_ul") or None, now)
        elif command == "bolus":
            p.clinician_bolus_ng(ug_to_ng(args["dose_ug"], "bolus.dose_ug"), args["duration_min"],
                                 args.get("confirm_soft", False), now)
        elif command == "suspend":
            p.suspend(now)
        elif command == "resume":
            p.resume(now)
        elif command == "resume_alarm":
            out["holds"] = p.resume_after_alarm(now)
        elif command == "stop":
            p.stop(now)
        elif command == "set_clock":
            p.set_clock(args["wall_s"], now)
        elif command == "acknowledge":
            out["acknowledged"] = p.acknowledge(args.get("code", 0), now)
        elif command == "silence":
            out["silence_ms"] = p.silence(args["ms"], now)
        elif command == "trial":
            p.set_trial(args["trial"], args.get("confirm_soft", False), now)
        elif command == "pain_score":  # the programmer signs as the clinician
            p.pain_score(args["score"], args.get("baseline", False), args.get("side_effects", 0),
                         args.get("free_code", 0), ROLE_CLINICIAN, now)
        return out


class DryRunLink(Link):
    """Sends nothing: shows each command it would send (keys never shown) and keeps them in `sent`. `check(command,
    args)`, when given, runs the pump's own checks first (the programmer applies the command to the firmware's Pump on
    the simulated board) and raises when the pump would refuse: then nothing is shown as sent."""

    def __init__(self, say, check=None):
        self.say = say
        self.sent = []
        self.check = check

    def call(self, command, **args):
        check_call(command, args)
        if self.check is not None:
            self.check(command, args)
        self.sent.append((command, args))
        shown = ", ".join("%s=%s" % (k, "<%d keys>" % len(v) if isinstance(v, dict) else v)
                          for k, v in sorted(args.items()))
        self.say("dry run: would send %s%s" % (command, " (%s)" % shown if shown else ""))
        return {"dry_run": True}
