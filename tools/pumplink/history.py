"""The pump's event history on the host: records (seq, t_s, code, a, b) decoded to names and words, the audit pairs
(COMMAND then CONTENT) joined, and the screening trial read back from the records (its dates, titration steps, pain
scores) for the programmer's trial report and the simulator's result."""

import datetime

from pump import events as ev
from pump.alarms import NAME as ALARM_NAMES
from pump.cmdauth import ROLE_NAMES
from pump.errors import MESSAGES
from pump.screening import END_PLANNED, END_PROGRAM, END_UNREADABLE
from pump.trial import unpack_score
from tools.pumplink.proto import OPCODE_NAMES

EPOCH = datetime.datetime(2000, 1, 1)
END_WHY = {END_PLANNED: "planned end", END_PROGRAM: "the clinician reprogrammed", END_UNREADABLE:
           "the drug library refuses the stored trial"}
_ALARM_ARGS = (ev.ALARM_RAISED, ev.ALARM_CLEARED, ev.ALARM_ACK)
_ERROR_ARGS = (ev.PROGRAM_REJECTED, ev.BOLUS_REFUSED, ev.PROGRAM_UNCHECKED)


def utc_text(t_s):
    """ISO time (UTC) of a record's t_s; "" for 0, a clock never set."""
    return (EPOCH + datetime.timedelta(seconds=t_s)).isoformat() + "Z" if t_s else ""


def role_name(role):
    return ROLE_NAMES[role - 1] if 1 <= role <= len(ROLE_NAMES) else "role %d" % role


def command_fields(b):
    """(command name, role name, result code) of a COMMAND record's b."""
    op, role, result = b & 0xFF, b >> 8 & 0xFF, b >> 16 & 0xFFFF
    return OPCODE_NAMES.get(op, "opcode %d" % op), role_name(role), result


def detail(code, a, b):
    """What a record says, in words (empty when its name and numbers say it all)."""
    if code in _ALARM_ARGS:
        return ALARM_NAMES.get(a, "alarm %d" % a)
    if code in _ERROR_ARGS and a:
        return "E%d %s" % (a, MESSAGES.get(a, "error"))
    if code == ev.PAIN_SCORE:
        score, baseline, role, effects, free = unpack_score(a, b)
        text = "%s %d/10 by %s" % ("baseline" if baseline else "score", score, role_name(role))
        if effects or free:
            text += "; side effects: %s" % ", ".join(effects + (["code %d" % free] if free else []))
        return text
    if code == ev.COMMAND:
        name, role, result = command_fields(b)
        return "%s by %s, counter %d, %s" % (name, role, a & 0xFFFFFFFF, "applied" if not result else "refused E%d %s"
                                             % (result, MESSAGES.get(result, "error")))
    if code == ev.CONTENT:
        return "sha256 %s" % content_hex(a, b)
    if code in (ev.TRIAL_PROGRAMMED,):
        return "%s .. %s" % (day_text(a), day_text(b))
    if code == ev.TRIAL_STEP:
        return "step %d: %g ug/day" % (a, b / 1000)
    if code == ev.TRIAL_END:
        return "%d steps applied; %s" % (a, END_WHY.get(b, "why %d" % b))
    return ""


def content_hex(a, b):
    """The 16 hex digits of a CONTENT record: the first 8 bytes of the command parameters' SHA-256."""
    return (a & 0xFFFFFFFF).to_bytes(4, "little").hex() + (b & 0xFFFFFFFF).to_bytes(4, "little").hex()


def day_text(day):
    return (EPOCH + datetime.timedelta(days=day)).date().isoformat()


COLUMNS = ("seq", "time_utc", "code", "event", "a_name", "a", "b_name", "b", "detail")


def rows(records):
    """One dict per record (COLUMNS), oldest first as given."""
    out = []
    for seq, t_s, code, a, b in records:
        a_name, b_name = ev.args(code)
        out.append({"seq": seq, "time_utc": utc_text(t_s), "code": code, "event": ev.text(code), "a_name": a_name,
                    "a": a, "b_name": b_name, "b": b, "detail": detail(code, a, b)})
    return out


def check_records(records, where):
    """The records as tuples of 5 ints, or ValueError naming `where` and the first bad row."""
    out = []
    if not isinstance(records, list):
        raise ValueError("%s: must be a list of [seq, t_s, code, a, b]" % where)
    for i, r in enumerate(records):
        if not (isinstance(r, list) and len(r) == 5 and all(type(x) is int for x in r)):
            raise ValueError("%s[%d]: must be [seq, t_s, code, a, b] (5 integers)" % (where, i))
        out.append(tuple(r))
    return out


def trial_data(records):
    """The screening trial the records tell: {"start", "end" (dates), "steps": [{"t_s", "step", "dose_ug_per_day"}],
    "scores": [{"t_s", "score", "baseline", "by", "side_effects", "free_code"}], "ended": why or None}; None when
    no trial was programmed. The last TRIAL_PROGRAMMED record counts; scores are all those logged."""
    out = None
    scores = []
    for _seq, t_s, code, a, b in records:
        if code == ev.TRIAL_PROGRAMMED:
            out = {"start": day_text(a), "end": day_text(b), "start_t_s": a * 86400, "end_t_s": b * 86400,
                   "steps": [], "ended": None}
        elif code == ev.TRIAL_STEP and out is not None:
            out["steps"].append({"t_s": t_s, "step": a, "dose_ug_per_day": b / 1000})
        elif code == ev.TRIAL_END and out is not None:
            out["ended"] = END_WHY.get(b, "why %d" % b)
        elif code == ev.PAIN_SCORE:
            score, baseline, role, effects, free = unpack_score(a, b)
            scores.append({"t_s": t_s, "score": score, "baseline": baseline, "by": role_name(role),
                           "side_effects": effects, "free_code": free})
    if out is not None:
        out["scores"] = scores
    return out

