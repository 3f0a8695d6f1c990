"""Laptop telemetry client: find pumps, follow one live in the terminal, log it to CSV, dump its event log.

What it shows and logs is tools/telemetry/view.py; the link is a transport of tools/pumplink/ble.py (bleak).

    python -m tools.telemetry scan [--timeout S] [--adapter hci0]
    python -m tools.telemetry [--device NAME|ADDR] [--csv FILE] [--history] [--once] [--duration S] [--adapter hci0]
                              [--keys FILE] [--pair]
    python -m tools.telemetry --sim SCENARIO.json [--ble-stack rp2-btstack|esp32-nimble] [--speed X]
                              [--pump-keys keys.json] [...]

Without --device the first pump heard is used. Every connection opens the pump's secure session (docs/ble.md) with
the monitor key: from keys.json, or the file `python -m tools.keys --monitor-out` writes (--keys); it reads
telemetry and history and can command nothing. --pair also pairs the link (an ESP32 pump's second layer: on Linux
BlueZ's agent asks for the passkey the pump prints on its console; a Pico W cannot pair). --sim follows a simulated
pump instead, served in this same process on Bumble's virtual link as the chosen stock stack would serve it (the
pump provisioned with keys.json). The live view needs a terminal; piped, the client prints one line per status or
alarm message. A lost link is reconnected after a doubling wait (1 s up to 30 s), --retries times in a row. Exit
codes: 0 done, 2 bad input (a file, a key, a session the pump refuses), 4 no pump found, or the link lost for good.
"""

import argparse
import asyncio
import contextlib
import datetime
import sys

from tools.pumplink import proto as pp
from tools.pumplink.ble import BleakTransport, read_history
from tools.pumplink.link import LinkError
from tools.pumplink.secure import SessionRefused, SessionTransport
from tools.pumplink.session import ROLE_MONITOR
from tools.sim.ble import DEFAULT_SPEED
from tools.sim.link import SimError, SimTransport
from tools.telemetry import view as tv

from pump import racp

EXIT_INPUT = 2
EXIT_LINK = 4
DEFAULT_RETRIES = 5
_LIVE = (pp.STATUS_UUID, pp.ALARM_UUID)


def _now():
    return datetime.datetime.now().astimezone()


class PlainDisplay:
    """Text lines, for a pipe or a log file."""

    def __init__(self, out):
        self.out = out

    def start(self, state):
        pass

    def show(self, state, kind, msg):
        self.out(tv.status_line(msg) if kind == "status" else tv.alarm_line(msg))

    def note(self, state, text):
        self.out(text)

    def stop(self):
        pass


class LiveDisplay:
    """The rich live view, redrawn at each message."""

    def __init__(self, console):
        self.console = console
        self.live = None

    def start(self, state):
        from rich.live import Live

        self.live = Live(tv.render(state), console=self.console, auto_refresh=False)
        self.live.start()

    def show(self, state, kind, msg):
        self.live.update(tv.render(state), refresh=True)

    def note(self, state, text):
        self.live.update(tv.render(state), refresh=True)

    def stop(self):
        if self.live is not None:
            self.live.stop()


class Monitor:
    """One pump followed over a transport: features, then status and alarm messages as they come, each shown and
    logged; reconnects when the link drops."""

    def __init__(self, transport, device, display, csv=None, retries=DEFAULT_RETRIES, backoff_s=1.0, timeout_s=10.0,
                 now=_now):
        self.transport = transport
        self.device = device
        self.display = display
        self.csv = csv
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.now = now
        self.state = tv.ClientState(device)
        self._sealed_refused = 0

    async def open(self):
        gatt = await self.transport.open(self.device, self.timeout_s)
        self._sealed_refused = 0
        if hasattr(gatt, "on_refused"):  # the session's seam: its refusals shown as they happen
            gatt.on_refused = lambda: self.sealed(gatt)
        self.state.device = getattr(gatt, "name", None) or self.device or self.state.device
        return gatt

    def note(self, text):
        self.state.link = text
        self.display.note(self.state, text)

    def _got(self, got):
        if got is None:
            return
        kind, msg = got
        if self.csv is not None:
            self.csv.write(kind, msg, self.now())
        self.display.show(self.state, kind, msg)

    def frame(self, uuid, frame, read=False):
        refused = self.state.refused
        self._got(self.state.value(uuid, frame) if read else self.state.frame(uuid, frame))
        if self.state.refused != refused:
            self.note("refused frame (%s), %d so far" % (self.state.refusal, self.state.refused))

    def sealed(self, gatt):
        """Count the sealed messages the session seam dropped since last asked (a forged or replayed one)."""
        dropped = getattr(gatt, "refused", 0) - self._sealed_refused
        if dropped > 0:
            self._sealed_refused += dropped
            self.state.refused += dropped
            self.state.refusal = gatt.refusal
            self.note("refused frame (%s), %d so far" % (gatt.refusal, self.state.refused))

    async def snapshot(self, gatt):
        """Features, then the status and alarm values as read now (each a whole frame)."""
        st = self.state
        st.features = pp.decode_features(pp.Reassembler.unframe(await gatt.read(pp.FEATURES_UUID)))
        for uuid in _LIVE:
            try:
                value = await gatt.read(uuid)
            except LinkError as e:  # a value the session cannot open: the next message brings it
                self.note(str(e))
                continue
            self.frame(uuid, value, read=True)

    async def _consume(self, gatt, uuid):
        while True:
            frame = await gatt.receive(uuid, None)
            self.sealed(gatt)
            self.frame(uuid, frame)

    async def follow(self, gatt, stop):
        """Subscribe, read the current values, then take messages until the link drops (False) or `stop` (True)."""
        for uuid in _LIVE:
            await gatt.subscribe(uuid)
        await self.snapshot(gatt)
        self.note("connected")
        tasks = [asyncio.ensure_future(self._consume(gatt, uuid)) for uuid in _LIVE]
        tasks += [asyncio.ensure_future(gatt.lost.wait()), asyncio.ensure_future(stop.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
        for t in done:
            if t in tasks[:2] and t.exception() is not None:
                raise t.exception()
        return stop.is_set()

    async def run(self, stop):
        """Follow the pump until `stop` is set (0) or the link cannot be made again (EXIT_LINK)."""
        failures = 0
        self.display.start(self.state)
        try:
            gatt = await self.open()
            while True:
                statuses = self.state.statuses
                error = "connection lost"
                try:
                    if await self.follow(gatt, stop):
                        return 0
                except Exception as e:  # noqa: BLE001 - the transport's own errors (bleak, Bumble, D-Bus): the link is gone
                    error = "link error: %s" % (e or type(e).__name__)
                finally:
                    await _close(gatt)
                failures = 1 if self.state.statuses > statuses else failures + 1
                gatt = await self._reconnect(error, failures, stop)
                if gatt is None:
                    return 0 if stop.is_set() else EXIT_LINK
        finally:
            self.display.stop()

    async def _reconnect(self, error, failures, stop):
        while failures <= self.retries:
            wait_s = tv.backoff_s(failures, self.backoff_s)
            self.note("%s; reconnecting in %g s (attempt %d of %d)" % (error, wait_s, failures, self.retries))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)
            if stop.is_set():
                return None
            try:
                return await self.open()
            except SessionRefused:
                raise  # a key the pump refuses stays refused
            except LinkError as e:
                error = str(e)
            failures += 1
        self.note("giving up after %d attempts: %s" % (self.retries, error))
        return None


async def _close(gatt):
    with contextlib.suppress(Exception):
        await gatt.close()


# ---- the command line ----


def _positive(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text) from None
    if not value > 0:
        raise argparse.ArgumentTypeError("%r: must be above 0" % text)
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with its refusals in one line (no usage block): bad input is one line and exit 2."""

    def error(self, message):
        self.exit(EXIT_INPUT, "%s: %s (--help lists the options)\n" % (self.prog, message))


def _parser():
    ap = _Parser(prog="python -m tools.telemetry", description=__doc__.split("\n")[0])
    ap.add_argument("command", nargs="?", choices=("scan",), help="scan: list the pumps in range, strongest first")
    ap.add_argument("--device", help="the pump's name (PUMP-XXXX) or address (default: the first pump heard)")
    ap.add_argument("--csv", metavar="FILE", help="append a row per status and alarm message (header when new)")
    ap.add_argument("--history", action="store_true", help="dump the pump's event log, then exit")
    how = ap.add_mutually_exclusive_group()
    how.add_argument("--once", action="store_true", help="show the status and alarms once, then exit")
    how.add_argument("--duration", type=_positive, metavar="S", help="follow the pump S seconds, then exit")
    ap.add_argument("--retries", type=int, default=DEFAULT_RETRIES, help="reconnection attempts in a row (default 5)")
    ap.add_argument("--timeout", type=_positive, default=10.0, metavar="S", help="scan and connect timeout (10 s)")
    ap.add_argument("--adapter", help="the BlueZ adapter to use (e.g. hci1; default: the system's)")
    ap.add_argument("--keys", metavar="FILE", help="the monitor key: keys.json (default) or the file "
                    "`python -m tools.keys --monitor-out` writes")
    ap.add_argument("--pair", action="store_true", help="pair the link too (ESP32 pumps; a Pico W cannot pair)")
    ap.add_argument("--sim", metavar="SCENARIO", help="follow a simulated pump of this scenario, in this process")
    ap.add_argument("--ble-stack", metavar="STACK", help="with --sim: the stock stack the simulated pump runs: "
                    "rp2-btstack or esp32-nimble (default: $PUMP_BLE_STACK, else esp32-nimble)")
    ap.add_argument("--speed", type=_positive, metavar="X", help="with --sim: pump time per real time (default 60)")
    ap.add_argument("--pump-keys", metavar="FILE", help="with --sim: the keys the simulated pump is provisioned with "
                    "(default keys.json)")
    return ap


def monitor_key(path):
    """The monitor's 32-byte key from a keys file; InputError (one line) when missing or malformed."""
    from tools.keys import keys

    path = path or keys.DEFAULT_PATH
    try:
        return keys.load(path, ("monitor",))["monitor"]
    except keys.KeysError as e:
        raise InputError("--keys: %s" % e) from None


class InputError(Exception):
    """Bad input to the command line, one line naming it (exit 2)."""


def _sim_transport(args, out):
    """The --sim transport: a simulated pump served in this process (tools/sim/link.py)."""
    for option in ("ble_stack", "speed", "pump_keys"):
        if getattr(args, option) is not None and not args.sim:
            raise InputError("--%s: only with --sim (it would do nothing without)" % option.replace("_", "-"))
    if not args.sim:
        return None
    for option in ("device", "adapter"):
        if getattr(args, option) is not None:
            raise InputError("--%s: not with --sim (the simulated pump is the one followed)" % option)
    try:
        return SimTransport(args.sim, args.ble_stack, keys_path=args.pump_keys,
                                    speed=args.speed or DEFAULT_SPEED, out=out)
    except SimError as e:
        raise InputError(str(e)) from None


def _history_text(records, answer, refused):
    code = answer.get("code", racp.RC_SUCCESS)
    if code == racp.RC_INSECURE:
        raise LinkError("history: refused by the pump: no secure session on the link")
    if code not in (racp.RC_SUCCESS, racp.RC_NO_RECORDS):
        raise LinkError("history: the pump answered RACP code %d" % code)
    lines = tv.history_lines(records)
    lines.append("%d record%s%s" % (len(records), "" if len(records) == 1 else "s",
                                    ", %d refused (checks failed)" % refused if refused else ""))
    return lines


async def _one_shot(args, monitor, out, console):
    gatt = await monitor.open()
    try:
        if args.history:
            records, answer, refused = await read_history(gatt, timeout_s=args.timeout)
            for line in _history_text(records, answer, refused):
                out(line)
        if args.once:
            await monitor.snapshot(gatt)
            if console is not None:
                console.print(tv.render(monitor.state))
    finally:
        await _close(gatt)
    return 0


async def run(argv=None, transport=None, out=print, console=None, stop=None, on_monitor=None, backoff_s=1.0,
              now=_now):
    """The command line in the running event loop; returns the exit code. Tests give the transport (the Bumble
    central), `out` for text lines, a rich `console` for the live view, and `stop` to end following."""
    args = _parser().parse_args(argv)
    if args.retries < 0:
        out("telemetry: --retries: must be 0 or more")
        return EXIT_INPUT
    try:
        sim = _sim_transport(args, lambda text: None)
        if sim is not None:
            monitor_key(args.keys)  # the client's key is checked before a simulated pump starts
            await sim.start()
    except (InputError, SimError) as e:
        out("telemetry: %s" % e)
        return EXIT_INPUT
    if sim is not None:
        try:
            return await _run(args, sim, out, console, stop, on_monitor, backoff_s, now)
        finally:
            await sim.close()
    transport = transport or BleakTransport(adapter=args.adapter, pair=args.pair)
    return await _run(args, transport, out, console, stop, on_monitor, backoff_s, now)


async def _run(args, transport, out, console, stop, on_monitor, backoff_s, now):
    if console is None and sys.stdout.isatty():
        from rich.console import Console

        console = Console()
    try:
        if args.command == "scan":
            pumps = await transport.scan(args.timeout)
            if not pumps:
                raise LinkError("no pump found within %g s (in range, advertising, Bluetooth on?)" % args.timeout)
            for line in tv.scan_lines(pumps):
                out(line)
            return 0
        key = monitor_key(args.keys)  # a missing key is said before a CSV file is touched
        log = tv.CsvLog(args.csv) if args.csv else None
        transport = SessionTransport(transport, key, ROLE_MONITOR)
    except OSError as e:
        out("telemetry: --csv: %s" % e)
        return EXIT_INPUT
    except InputError as e:
        out("telemetry: %s" % e)
        return EXIT_INPUT
    except LinkError as e:
        out("telemetry: %s" % e)
        return EXIT_LINK
    one_shot = args.once or args.history
    if console is None:
        display = PlainDisplay(out)
    else:  # a terminal: the live view, or one rendering of it (--once)
        display = PlainDisplay(lambda _line: None) if one_shot else LiveDisplay(console)
    monitor = Monitor(transport, args.device, display, log, args.retries, backoff_s, args.timeout, now)
    if on_monitor is not None:
        on_monitor(monitor)
    stop = stop or asyncio.Event()
    try:
        if one_shot:
            return await _one_shot(args, monitor, out, console)
        if args.duration:
            asyncio.get_running_loop().call_later(args.duration, stop.set)
        return await monitor.run(stop)
    except SessionRefused as e:
        out("telemetry: %s" % e)
        return EXIT_INPUT
    except LinkError as e:
        out("telemetry: %s" % e)
        return EXIT_LINK
    finally:
        if log is not None:
            log.close()


def main(argv=None):
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:  # Ctrl-C ends the live view
        return 0

