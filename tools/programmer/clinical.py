"""The programmer's clinical-pathway commands: a screening trial and a pain score checked before they are sent, the
event history exported (CSV decoded to names, JSON signed under the clinician key) and verified, and the trial
report (tools/programmer/trialreport.py)."""

import os

from tools.programmer.audit import load_records, verify, write_csv, write_signed
from tools.programmer.report import InputError

from pump.errors import PumpError
from pump.trial import SIDE_EFFECTS, check_score, parse_trial

_OPTION = {"pain.score": "--score", "pain.side_effects": "--side-effects", "pain.free_code": "--free-code"}


def pain_args(args):
    """The pain_score command's arguments, checked as the pump checks them (pump.trial.check_score)."""
    mask = 0
    for name in filter(None, (n.strip() for n in args.side_effects.split(","))):
        if name not in SIDE_EFFECTS:
            raise InputError("--side-effects: %r: allowed %s" % (name, ", ".join(SIDE_EFFECTS)))
        mask |= 1 << SIDE_EFFECTS.index(name)
    try:
        check_score(args.score, args.baseline, mask, args.free_code)
    except PumpError as e:
        key, _, rest = e.detail.partition(":")
        raise InputError("%s:%s" % (_OPTION.get(key, key), rest)) from e
    return {"score": args.score, "baseline": args.baseline, "side_effects": mask, "free_code": args.free_code}


def check_trial(path, library, nl_per_step, confirm_soft=False):
    """(document, Trial) of a trial file, checked by the firmware's own parser; InputError names the file and key."""
    from tools.programmer.report import load_json

    doc = load_json(path, "trial")
    try:
        return doc, parse_trial(doc, library, nl_per_step, confirm_soft)
    except PumpError as e:
        hint = " (confirm with --confirm-soft)" if e.code == 201 else ""
        raise InputError("%s: %s%s" % (path, e, hint)) from e


def _clinician_key(path):
    from tools.keys import keys

    try:
        return keys.load(path, ("clinician",))["clinician"]
    except keys.KeysError as e:
        raise InputError("--keys: %s" % e) from e


def _pump_records(args):
    """The whole event log of the pump --device, or of a simulated one (--sim), read over BLE (RACP) in a clinician's
    secure session (a pump sends nothing outside one)."""
    import asyncio

    from tools.programmer.programmer import session_gatt
    from tools.pumplink.ble import read_history
    from tools.pumplink.link import LinkError

    key = _clinician_key(args.keys)
    if args.ble_stack is not None and not args.sim:
        raise InputError("--ble-stack: only with --sim (it would do nothing without)")
    open_gatt, on_close = session_gatt(args, key)

    async def read():
        try:
            gatt = await open_gatt()
            try:
                return await read_history(gatt)
            finally:
                await gatt.close()
        finally:
            if on_close is not None:
                await on_close()

    records, _answer, refused = asyncio.run(read())
    if refused:
        raise LinkError("history: %d records failed their checks on the way: read it again" % refused)
    return [(r["seq"], r["t_s"], r["code"], r["a"], r["b"]) for r in records]


def run(args, say):
    """history, verify, trial-report: 0 done; InputError (exit 2) for bad input or an export that does not verify."""
    if args.command == "verify":
        say(verify(args.export, _clinician_key(args.keys)))
        return 0
    if args.command == "trial-report":
        return _trial_report(args, say)
    if args.port:
        raise InputError("--port: the wired path carries commands and status, not the history: read it over BLE "
                         "(--device) or from a file (--from)")
    if (bool(args.source) + bool(args.device) + bool(args.sim)) != 1:
        raise InputError("--from, --device or --sim: where the history comes from (a file, a pump over BLE, or a "
                         "simulated pump), one of them")
    if not args.csv and not args.signed:
        raise InputError("--csv or --signed: what to write (both may be given)")
    key = _clinician_key(args.keys) if args.signed else None  # refused before anything is read
    if args.source:
        records, _doc = load_records(args.source)
        source = os.path.basename(args.source)
    else:
        records, source = _pump_records(args), "pump %s" % (args.device or "simulated: " + args.sim)
    if args.csv:
        write_csv(args.csv, records)
        say("history: %d records decoded to %s" % (len(records), args.csv))
    if args.signed:
        write_signed(args.signed, records, source, key)
        say("history: %d records signed into %s (check it with `programmer verify %s`)" % (
            len(records), args.signed, args.signed))
    return 0


def _trial_report(args, say):
    from tools.programmer import trialreport

    if not 0 < args.responder_pct <= 100:  # NaN fails too
        raise InputError("--responder-pct: %g: allowed more than 0, at most 100" % args.responder_pct)
    if args.plot:
        import matplotlib  # noqa: F401 - missing: one line (tools.cli) before anything is written
    records, _doc = load_records(args.source)
    s = trialreport.summarise(records, args.responder_pct, args.source)
    for line in trialreport.lines(s):
        say(line)
    if args.csv:
        trialreport.write_csv(args.csv, s)
        say("csv: %s" % args.csv)
    if args.plot:
        trialreport.plot(args.plot, s, os.path.basename(args.source))
        say("plot: %s" % args.plot)
    return 0
