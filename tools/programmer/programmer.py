"""Clinician programmer: check a prescription offline (daily volume, steps, reservoir duration, refill date), simulate
it, and send it or a clinician command to a pump through a link (tools/pumplink/link.py).

    python -m tools.programmer check RX.json [--fill-ul U] [--start YYYY-MM-DD] [--simulate DAYS [--plot OUT.png]
                                               [--refill-every DAYS]] [--json]
    python -m tools.programmer send RX.json [--confirm-soft] [--confirm-battery]
                                         (then a link: --device NAME (BLE), --port DEV (USB serial), or --dry-run)
    python -m tools.programmer refill --fill-ul U [--concentration C] [--aspirated-ul A] | prime [--volume-ul U]
                               | bolus --dose-ug D --duration-min M | suspend | resume | resume-alarm | stop
                               | set-clock [--at "YYYY-MM-DD HH:MM"] | acknowledge [--alarm CODE]
                               | silence [--seconds S] | status
                               | trial TRIAL.json [--confirm-soft] | pain-score --score N [--baseline]
                                 [--side-effects a,b] [--free-code C]
    python -m tools.programmer history (--from FILE | --device NAME) [--csv OUT.csv] [--signed OUT.json]
    python -m tools.programmer verify SIGNED.json
    python -m tools.programmer trial-report FILE [--responder-pct 50] [--plot OUT.png] [--csv OUT.csv]

A prescription file has the scenario's therapy part (README, "Prescriptions and the drug library"); it is checked by
the firmware's own parser against the drug library, with the mechanism calibration from config.json (or
--nl-per-step). Every number the report shows comes from the firmware's objects (Therapy, Pump, Reservoir) on the
simulated board. Exit codes: 0 done, 2 bad input (the message names the file and key), 3 refused by the pump,
4 the pump could not be reached.
"""

import argparse
import datetime
import json
import os

from tools.boardconfig import boardconfig
from tools.boardconfig.boardconfig import ConfigError
from tools.programmer.reconcile import verdict
from tools.programmer.report import LIBRARY, InputError, format_report, load_json, report, simulation
from tools.pumplink.link import EPOCH, DryRunLink, LinkError, local_text, wall_s
from tools.pumplink.secure import SessionRefused

from pump.calendar import check_wall_s
from pump.config import PumpConfig
from pump.druglib import DrugLibrary
from pump.errors import E_BATTERY_ERI, PumpError
from pump.limits import check_fill_ul, check_prime_ul
from pump.prescription import parse_prescription
from pump.refillcheck import check_aspirated_ul
from pump.trial import SIDE_EFFECTS

EPOCH_DATE = datetime.date(2000, 1, 1)  # the pump's day numbers count from here
EXIT_INPUT = 2
EXIT_REFUSED = 3
EXIT_LINK = 4


# ---- inputs ----


def pump_config(config_path, nl_per_step=None):
    """(pump config dict, where nl_per_step came from): config.json's pump part, --nl-per-step over it."""
    cfg = {}
    source = "default: no %s" % config_path
    if os.path.exists(config_path):
        try:
            cfg = dict(boardconfig.load(config_path)["pump"])
        except ConfigError as e:
            raise InputError(str(e)) from e
        source = config_path if "nl_per_step" in cfg else "default: not set in %s" % config_path
    if nl_per_step is not None:
        cfg["nl_per_step"] = nl_per_step
        source = "--nl-per-step"
    try:
        PumpConfig(cfg)
    except PumpError as e:
        raise InputError("%s: %s" % (source, e)) from e
    return cfg, source


def load_library(path=LIBRARY):
    try:
        return DrugLibrary.load(path)
    except PumpError as e:
        raise InputError(str(e)) from e  # the file is named in the detail


def check_prescription(path, library, nl_per_step, confirm_soft=False):
    """(prescription dict, Therapy) of a prescription file, checked by the firmware's parser; InputError names the
    file and the key."""
    doc = load_json(path, "prescription")
    if isinstance(doc, dict) and ("events" in doc or "days" in doc):
        raise InputError("%s: this is a scenario (it has events/days), not a prescription: run it with "
                         "`python -m tools.sim %s`" % (path, path))
    try:
        return doc, parse_prescription(doc, library, nl_per_step, confirm_soft)
    except PumpError as e:
        hint = " (confirm with --confirm-soft or \"confirm_soft_limits\": true)" if e.code == 201 else ""
        raise InputError("%s: %s%s" % (path, e, hint)) from e


# ---- the command line ----


def _date(text):
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a date YYYY-MM-DD" % text) from None


def _when(text):
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M")
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a time \"YYYY-MM-DD HH:MM\"" % text) from None


def _parser():
    ap = argparse.ArgumentParser(prog="python -m tools.programmer", description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=boardconfig.DEFAULT_PATH, help="board config (default: config.json)")
    ap.add_argument("--nl-per-step", type=int, help="mechanism calibration instead of the config's")
    ap.add_argument("--druglib", default=LIBRARY, help="drug library (default: lib/druglib.json)")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def linked(name, help_text):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--device", help="the pump's BLE address or name")
        p.add_argument("--port", help="the pump's USB serial console instead of BLE (/dev/ttyACM0, COM3)")
        p.add_argument("--keys", default=os.path.join(boardconfig.ROOT, "keys.json"), help="keys file (clinician)")
        p.add_argument("--dry-run", action="store_true", help="run the pump's checks offline, send nothing")
        p.add_argument("--pair", action="store_true", help="with --device: pair the link too (ESP32 pumps)")
        p.add_argument("--sim", metavar="SCENARIO", help="a simulated pump of this scenario, served in this process "
                       "on Bumble's virtual link (provisioned with keys.json)")
        p.add_argument("--ble-stack", metavar="STACK", help="with --sim: rp2-btstack or esp32-nimble (default: "
                       "$PUMP_BLE_STACK, else esp32-nimble)")
        if name not in ("send",):
            p.add_argument("--rx", metavar="RX.json", help="with --dry-run: the prescription the pump runs (its "
                           "checks need it for %s)" % ", ".join(NEEDS_PROGRAM))
        return p

    p = sub.add_parser("check", help="check a prescription offline and report its volumes and dates")
    p.add_argument("prescription")
    p.add_argument("--fill-ul", type=int, help="reservoir fill (default: the config's reservoir_ul)")
    p.add_argument("--start", type=_date, default=datetime.date.today(), help="fill date (default: today)")
    p.add_argument("--simulate", type=float, metavar="DAYS", help="run the simulator for DAYS days")
    p.add_argument("--plot", metavar="OUT.png", help="with --simulate: plot reservoir, delivery and rate")
    p.add_argument("--refill-every", type=float, metavar="DAYS", help="with --simulate: refill every DAYS days")
    p.add_argument("--json", action="store_true", help="print the report (and simulation result) as JSON")
    p.add_argument("--confirm-soft", action="store_true", help="accept soft drug-library limits")
    p = linked("send", "program a pump with a prescription")
    p.add_argument("prescription")
    p.add_argument("--confirm-soft", action="store_true", help="accept soft drug-library limits")
    p.add_argument("--confirm-battery", action="store_true", help="accept a program that brings the battery's "
                   "elective replacement within 90 days (or allows no 90-day warning at its rate)")
    p = linked("refill", "new reservoir fill (and concentration), with the volume aspirated before it")
    p.add_argument("--fill-ul", type=int, required=True)
    p.add_argument("--concentration", type=int, metavar="UG_PER_ML")
    p.add_argument("--aspirated-ul", type=int, help="volume drawn out of the reservoir before filling (default: not "
                   "measured, no reconciliation)")
    p = linked("prime", "prime the catheter (therapy suspended or stopped)")
    p.add_argument("--volume-ul", type=int)
    p = linked("bolus", "clinician bolus")
    p.add_argument("--dose-ug", type=float, required=True)
    p.add_argument("--duration-min", type=int, required=True)
    p.add_argument("--confirm-soft", action="store_true")
    for name, text in (("suspend", "suspend delivery"), ("resume", "resume delivery"),
                       ("resume-alarm", "resume after a safety hold once its condition is gone"),
                       ("stop", "stop therapy"), ("status", "the pump's state")):
        linked(name, text)
    p = linked("set-clock", "set the pump's clock: it keeps UTC (2024-01-01 00:00 .. 2099-12-31 23:59 UTC)")
    p.add_argument("--at", type=_when, help="\"YYYY-MM-DD HH:MM\" in this laptop's local time zone, sent as UTC "
                   "(default: now)")
    p = linked("acknowledge", "acknowledge alarms")
    p.add_argument("--alarm", type=int, default=0, help="alarm code (default 0: all)")
    p = linked("silence", "mute the buzzer for the alarms active now (at most 2 min)")
    p.add_argument("--seconds", type=int, default=120)
    p = linked("trial", "program a screening trial: start, planned end, titration steps (docs/clinical.md)")
    p.add_argument("trial")
    p.add_argument("--confirm-soft", action="store_true", help="accept soft drug-library limits")
    p = linked("pain-score", "record a pain score 0-10 (before the trial's start: --baseline)")
    p.add_argument("--score", type=int, required=True)
    p.add_argument("--baseline", action="store_true", help="a baseline score, before the trial starts")
    p.add_argument("--side-effects", default="", help="comma-separated: %s" % ", ".join(SIDE_EFFECTS))
    p.add_argument("--free-code", type=int, default=0, help="a clinic's own side-effect code, 1..32767")
    p = sub.add_parser("history", help="export the pump's event history: CSV decoded to names, signed JSON")
    p.add_argument("--from", dest="source", metavar="FILE", help="a simulation result or an earlier export")
    p.add_argument("--device", help="read it from the pump over BLE (its name PUMP-XXXX or address)")
    p.add_argument("--sim", metavar="SCENARIO", help="read it from a simulated pump of this scenario, served in this "
                   "process on Bumble's virtual link (provisioned with keys.json)")
    p.add_argument("--ble-stack", metavar="STACK", help="with --sim: rp2-btstack or esp32-nimble")
    p.add_argument("--pair", action="store_true", help="with --device: pair the link too (ESP32 pumps)")
    p.add_argument("--port", help=argparse.SUPPRESS)
    p.add_argument("--csv", metavar="OUT.csv", help="every record decoded to names")
    p.add_argument("--signed", metavar="OUT.json", help="the records with an HMAC under the clinician key")
    p.add_argument("--keys", default=os.path.join(boardconfig.ROOT, "keys.json"), help="keys file (clinician)")
    p = sub.add_parser("verify", help="check a signed history export (exit 0 valid, 2 not)")
    p.add_argument("export")
    p.add_argument("--keys", default=os.path.join(boardconfig.ROOT, "keys.json"), help="keys file (clinician)")
    p = sub.add_parser("trial-report", help="the screening trial's report from a history or a simulation result")
    p.add_argument("source", metavar="FILE", help="a simulation result (tools.sim --json) or a history export")
    p.add_argument("--responder-pct", type=float, default=50, help="relief that makes a responder (default 50)")
    p.add_argument("--plot", metavar="OUT.png", help="dose and pain over time, titration steps marked")
    p.add_argument("--csv", metavar="OUT.csv", help="the scores and steps")
    return ap


SIMULATE_DAYS = (0.001, 3650)  # what --simulate allows (tools.sim's scenario takes from 0.001 days)


def check_simulation_options(args):
    """Refuse --plot and --refill-every without --simulate (they would do nothing), and values out of range, before
    anything runs: a refill period of 0 or less would never reach the end of the simulation."""
    if args.simulate is None:
        for option, value in (("--plot", args.plot), ("--refill-every", args.refill_every)):
            if value is not None:
                raise InputError("%s: only with --simulate DAYS (it would do nothing without)" % option)
        return
    lo, hi = SIMULATE_DAYS
    if not lo <= args.simulate <= hi:  # NaN fails too
        raise InputError("--simulate: %g days: allowed %g..%g" % (args.simulate, lo, hi))
    if args.refill_every is not None and not 0 < args.refill_every <= args.simulate:
        raise InputError("--refill-every: %g days: allowed more than 0, at most --simulate (%g)" % (
            args.refill_every, args.simulate))


def _check(args, say):
    check_simulation_options(args)
    if args.plot:
        import tools.sim.plot  # noqa: F401 - matplotlib missing: one line (tools.cli) before the report, not after
    cfg, source = pump_config(args.config, args.nl_per_step)
    library = load_library(args.druglib)
    nl = PumpConfig(cfg).nl_per_step
    doc, _therapy = check_prescription(args.prescription, library, nl, args.confirm_soft)
    fill = args.fill_ul if args.fill_ul is not None else PumpConfig(cfg).reservoir_ul
    try:  # the pump's own check of a fill: the report cannot show a fill the pump would refuse
        check_fill_ul(fill, PumpConfig(cfg).reservoir_ul)
    except PumpError as e:
        raise InputError("--fill-ul: %s" % e) from e
    rep = report(doc, cfg, fill, args.start, args.druglib)
    out = {"report": rep}
    if not args.json:
        say(format_report(rep, source))
    if args.simulate is not None:
        from tools.sim.sim import summary

        sim = simulation(doc, cfg, fill, args.simulate, args.refill_every, args.druglib, args.start)
        res = sim.run()
        out["simulation"] = res
        if not args.json:
            say("simulated %g days from %s 00:00:" % (args.simulate, args.start.isoformat()))
            say(summary(res))
        if args.plot:
            from tools.sim.plot import plot

            plot(sim, args.plot, title=os.path.basename(args.prescription))
            if not args.json:
                say("plot: %s" % args.plot)
    if args.json:
        say(json.dumps(out, indent=1))
    return 0


def _call(args):
    """(command, arguments) a link command sends."""
    c = args.command
    if c in ("send", "trial"):
        return ("program" if c == "send" else "trial"), None  # filled in after the offline check
    if c == "refill":
        cfg, _ = pump_config(args.config, args.nl_per_step)
        try:  # the pump's own check, before anything is sent or a dry run asks for the program
            check_fill_ul(args.fill_ul, PumpConfig(cfg).reservoir_ul)
        except PumpError as e:
            raise InputError("--fill-ul: %s" % e) from e
        a = {"fill_ul": args.fill_ul}
        if args.concentration is not None:
            a["concentration_ug_per_ml"] = args.concentration
        if args.aspirated_ul is not None:
            try:
                a["aspirated_ul"] = check_aspirated_ul(args.aspirated_ul, PumpConfig(cfg).reservoir_ul)
            except PumpError as e:
                raise InputError("--aspirated-ul: %s" % e) from e
        return "refill", a
    if c == "prime":
        if args.volume_ul is None:
            return "prime", {}
        try:
            return "prime", {"volume_ul": check_prime_ul(args.volume_ul)}
        except PumpError as e:
            raise InputError("--volume-ul: %s" % e) from e
    if c == "bolus":
        dose = int(args.dose_ug) if args.dose_ug == int(args.dose_ug) else args.dose_ug
        return "bolus", {"dose_ug": dose, "duration_min": args.duration_min, "confirm_soft": args.confirm_soft}
    if c == "set-clock":
        # the pump keeps UTC: a time typed on the laptop is its local time, in its zone, converted before it is sent
        when = args.at.astimezone() if args.at else datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        try:  # the pump's own range check, before anything is sent
            return "set_clock", {"wall_s": check_wall_s(wall_s(when), "--at %s" % when.strftime("%Y-%m-%d %H:%M %Z"))}
        except PumpError as e:
            raise InputError(e.detail) from e
    if c == "acknowledge":
        return "acknowledge", {"code": args.alarm}
    if c == "silence":
        return "silence", {"ms": args.seconds * 1000}
    if c == "pain-score":
        from tools.programmer.clinical import pain_args

        return "pain_score", pain_args(args)
    return c.replace("-", "_"), {}


# commands whose dry run needs the pump's program to run the pump's checks (dose limits, the drug's strength)
NEEDS_PROGRAM = ("refill", "prime", "bolus")


def dry_run_pump(args):
    """A LocalLink onto the firmware's Pump on the simulated board, configured from config.json and running --rx (the
    program the pump runs), filled to the largest fill: the dry run applies every command to it first, so it says
    "would send" only for what the pump would accept."""
    cfg, _ = pump_config(args.config, args.nl_per_step)
    from tools.pumplink.link import LocalLink

    rx = getattr(args, "rx", None)
    if rx is None:
        if args.command in NEEDS_PROGRAM:
            raise InputError("--rx: a dry run of %s runs the pump's checks against the program it runs: name that "
                             "prescription's file (--rx RX.json)" % args.command)
        return None  # send is checked whole offline; the other commands' arguments need no program
    doc, _therapy = check_prescription(rx, load_library(args.druglib), PumpConfig(cfg).nl_per_step)
    sim = simulation(doc, cfg, PumpConfig(cfg).reservoir_ul, 1, None, args.druglib)
    pump = sim.pump
    if args.command == "prime" and pump.plan.running:
        pump.suspend(sim.clock.ticks_ms())  # priming needs therapy suspended: the clinician suspends first
    return LocalLink(pump, sim.clock.ticks_ms)


def open_link(args, say):
    """The link a command goes through: a dry run, the wired link to --port or the BLE link to --device, with the
    clinician key."""
    if args.dry_run:
        checker = dry_run_pump(args)
        if checker is None:
            return DryRunLink(say)

        def check(command, call_args):
            try:
                checker.call(command, **call_args)
            except PumpError as e:
                raise InputError("dry run: the pump would refuse %s: %s" % (command, e)) from e

        return DryRunLink(say, check)
    if args.ble_stack is not None and not args.sim:
        raise InputError("--ble-stack: only with --sim (it would do nothing without)")
    if args.device and args.port:
        raise InputError("--device and --port: one link at a time (BLE or the USB serial console)")
    if args.sim and (args.device or args.port):
        raise InputError("--sim and --%s: one link at a time (a simulated pump, or a pump)" % (
            "device" if args.device else "port"))
    if not args.device and not args.port and not args.sim:
        raise InputError("--device or --port: which pump? (its BLE name PUMP-XXXX or address, or its serial port "
                         "/dev/ttyACM0; --sim SCENARIO for a simulated one; or --dry-run)")
    from tools.keys import keys

    try:
        key = keys.load(args.keys, ("clinician",))["clinician"]
    except keys.KeysError as e:
        raise InputError("--keys: %s" % e) from e
    if args.port:
        from tools.pumplink.serial import SerialLink

        return SerialLink.open(args.port, key)
    from tools.pumplink.ble import BleLink

    open_gatt, on_close = session_gatt(args, key)
    return BleLink(open_gatt, key, on_close=on_close)


def session_gatt(args, key):
    """(open_gatt, on_close) of the BLE link to the pump --device, or to a simulated pump served by this process
    (--sim SCENARIO [--ble-stack], tools/sim/link.py): `await open_gatt()` connects and opens a clinician's secure
    session on the link; `on_close` (None without a simulation) is the coroutine function that stops the simulation."""
    from tools.pumplink.ble import BleakTransport
    from tools.pumplink.secure import SessionTransport
    from tools.pumplink.session import ROLE_CLINICIAN

    if not args.sim:
        transport = SessionTransport(BleakTransport(pair=args.pair), key, ROLE_CLINICIAN)
        return (lambda: transport.open(args.device)), None
    from tools.sim import link as simlink

    try:
        sim = simlink.SimTransport(args.sim, args.ble_stack, keys_path=args.keys)
    except simlink.SimError as e:
        raise InputError(str(e)) from None

    async def open_gatt():
        try:
            await sim.start()
        except simlink.SimError as e:
            raise InputError(str(e)) from None
        return await SessionTransport(sim, key, ROLE_CLINICIAN).open(None)

    return open_gatt, sim.close


def battery_text(eri_days, eos_days, today=None):
    """The battery forecast in words: the elective-replacement and end-of-service dates, or why there are none."""
    if eri_days is None:
        return "forecast cannot be computed yet (no trusted battery reading): it is not known when to replace it"
    today = today or datetime.date.today()

    def when(days):
        return "%s (in %d days)" % ((today + datetime.timedelta(days=days)).isoformat(), days)

    return "elective replacement %s, end of service %s" % (when(eri_days), when(eos_days))


def format_status(st):
    """One line for the status characteristic's fields (tools.pumplink.proto.decode_status)."""
    from pump.alarms import NAME

    day = st["empty_day"]
    empty = (EPOCH_DATE + datetime.timedelta(days=day)).isoformat() if day is not None else "never"
    battery = "%d %%" % st["battery_pct"] if st["battery_pct"] is not None else "not read yet"
    alarms = ", ".join(NAME.get(c, str(c)) for c in st["alarms"]) or "none"
    text = ("%s, %s: rate %.1f uL/day, today %.1f uL, total %d uL, reservoir %.1f uL (empty date %s), battery %s, "
            "alarms: %s") % (st["mode_name"] or "no program", st["state_name"], st["rate_nl_per_day"] / 1000,
                           st["today_nl"] / 1000, st["total_ul"], st["reservoir_nl"] / 1000, empty, battery, alarms)
    if st["pressure_kpa_x10"] is not None:
        text += ", pressure %.1f kPa" % (st["pressure_kpa_x10"] / 10)
    return text + ", pump clock %s" % local_text(st["t_s"])


def _send(args, say, link_factory):
    if getattr(args, "rx", None) is not None and not args.dry_run:
        raise InputError("--rx: only with --dry-run (the pump itself knows the program it runs)")
    command, call_args = _call(args)
    if command == "program":
        cfg, _ = pump_config(args.config, args.nl_per_step)
        doc, therapy = check_prescription(args.prescription, load_library(args.druglib),
                                          PumpConfig(cfg).nl_per_step, args.confirm_soft)
        say("checked: %s" % therapy.describe())
        call_args = {"prescription": doc, "confirm_soft": args.confirm_soft}
        if args.confirm_battery:
            call_args["confirm_battery"] = True
    if command == "trial":
        from tools.programmer.clinical import check_trial

        cfg, _ = pump_config(args.config, args.nl_per_step)
        doc, trial = check_trial(args.trial, load_library(args.druglib), PumpConfig(cfg).nl_per_step,
                                 args.confirm_soft)
        say("checked: trial %s .. %s, %s" % (doc["start"], doc["end"], ", ".join(
            "day %d: %g ug/day" % (d, ng / 1000) for d, ng in trial.steps)))
        call_args = {"trial": doc, "confirm_soft": args.confirm_soft}
    link = link_factory(args, say)
    try:
        reply = link.call(command, **call_args)
    finally:
        link.close()
    if command == "set_clock":
        say("set-clock: %s, sent as %s UTC" % (local_text(call_args["wall_s"], False), (
            EPOCH + datetime.timedelta(seconds=call_args["wall_s"])).strftime("%Y-%m-%d %H:%M")))
    if reply.get("dry_run"):
        return 0
    if command == "status":
        say(format_status(reply))
        say("status: %s" % json.dumps(reply, sort_keys=True))
    else:
        data = {k: v for k, v in reply.items() if k != "ok"}
        say("%s: done%s" % (command, " %s" % json.dumps(data, sort_keys=True) if data else ""))
        if command == "program" and "eri_days" in reply:
            say("battery: %s" % battery_text(reply["eri_days"], reply["eos_days"]))
        if command == "refill" and "tolerance_ul" in reply:
            for line in verdict(reply["expected_ul"], call_args.get("aspirated_ul"), reply["tolerance_ul"],
                                reply["discrepancy_ul"]):
                say("refill: %s" % line)
    return 0


def main(argv=None, say=print, link_factory=open_link):
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            return _check(args, say)
        if args.command in ("history", "verify", "trial-report"):
            from tools.programmer.clinical import run

            return run(args, say)
        return _send(args, say, link_factory)
    except InputError as e:
        say("programmer: %s" % e)
        return EXIT_INPUT
    except PumpError as e:
        hint = " (--confirm-battery)" if e.code == E_BATTERY_ERI else ""
        say("programmer: the pump refused %s: %s%s" % (args.command, e, hint))
        return EXIT_REFUSED
    except SessionRefused as e:
        say("programmer: %s" % e)
        return EXIT_INPUT
    except LinkError as e:
        say("programmer: %s" % e)
        return EXIT_LINK

