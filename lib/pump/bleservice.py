"""The pump's BLE peripheral on MicroPython's low-level `bluetooth` API (module and BLE object injected): Device
Information, Battery and the pump service (status, alarm, history RACP, command point, features, session; pump.gatt).
Everything but Device Information, Battery and Features travels sealed in a secure session (pump.blesession,
pump.session) on every stack; where the stack pairs (NimBLE), LE Secure Connections bonding with a passkey stays
underneath as a second layer, and only MITM-authenticated bonds are stored. Notifications on change at a bounded
rate. docs/ble.md describes the protocol.

IRQ handlers only copy what arrived and set `flag`; `run(now)`, called by the app's BLE task, runs commands, answers
history requests (pump.blehistory), sends the status and battery notifications and the indications (pump.outbox),
and returns when it wants to run again.
"""

import binascii

from pump.blehistory import History
from pump.blesecrets import Secrets
from pump.blesession import PAIRING_MS, SessionPoint
from pump.cmdauth import CommandAuth
from pump.commands import RESPONSE_LEN, execute, pack_response
from pump.compat import const, ticks_add, ticks_diff
from pump.errors import E_INSECURE, E_STATE, PumpError
from pump.frames import DONE, MAX_FRAME, MIN_FRAME, MORE, Framer, Reassembler
from pump.gatt import ADV_INTERVAL_US, CMD_MAX, FEATURE_ENCODER, FEATURE_KEYS, FEATURE_PRESSURE, advertising, register
from pump.outbox import Indication, Outbox
from pump.seal import OVERHEAD, STREAM_ALARM, STREAM_COMMAND, STREAM_RACP, STREAM_STATUS
from pump.state import NO_BATTERY
from pump.telemetry import ALARM_LEN, STATUS_LEN, Telemetry

try:
    from asyncio import ThreadSafeFlag as _Flag  # MicroPython: IRQ handlers may set it
except ImportError:
    from asyncio import Event as _Flag  # CPython: the bluetooth shim calls IRQ handlers from the event loop

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_READ_REQUEST = const(4)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_CONNECTION_UPDATE = const(27)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)
_IRQ_PASSKEY_ACTION = const(31)
_PASSKEY_DISPLAY = const(3)
_IO_DISPLAY_ONLY = const(0)
_ERR_INSUFFICIENT_ENCRYPTION = const(0x0F)
_INTERVAL_MS = const(50)  # connection interval assumed until the central reports one


class PumpService:
    """The BLE peripheral of one Pump. `keys`: {role: pump.hmac.Hmac} from keys.json, or None (commands refused, no
    session), or `auth` the CommandAuth the pump shares with its other command paths (its keys open sessions too);
    `urandom(n)` makes session nonces and pairing passkeys; `new_ecb(key16)` the AES block cipher (the board's `aes`
    role: cryptolib.aes(key, 1)); `out(text)` the console (passkeys, the security it runs with)."""

    def __init__(self, ble, bt, pump, storage, uid_hex, firmware, clock, keys=None, urandom=None, out=print,
                 model="pump", status_interval_ms=1000, auth=None, new_ecb=None):
        if urandom is None or new_ecb is None:
            raise ValueError("the secure session needs urandom and AES (the board's aes role)")
        self._ble = ble
        self.pump = pump
        self._urandom = urandom
        self._out = out
        self.status_interval_ms = status_interval_ms
        self.flag = _Flag()
        self.telemetry = Telemetry(pump)
        if auth is None:
            auth = CommandAuth(storage, keys, self._log, clock.ticks_ms(), pump.alarms)
            if auth.lost:
                out("command counters lost: BLE commands refused until a new keys.json is provisioned over USB")
        self.auth = auth  # the pump's one CommandAuth when the app shares it with the wired path (pump.wired)
        self.secrets = Secrets(storage)
        self.name = "PUMP-" + uid_hex[-4:].upper()
        self._cmd_rx = Reassembler(CMD_MAX + OVERHEAD)
        self._st = bytearray(STATUS_LEN)
        self._st_last = bytearray(STATUS_LEN)
        self._st_sealed = bytearray(STATUS_LEN + OVERHEAD)
        self._st_tx = Framer(STATUS_LEN + OVERHEAD)
        self._st_rd = Framer(STATUS_LEN + OVERHEAD)
        self._st_counter = 0  # message counter of the status (the outbox and the history keep the others')
        self._al = bytearray(ALARM_LEN)
        self._resp = bytearray(RESPONSE_LEN + 48)
        self._batt = bytearray(1)
        self._batt_last = NO_BATTERY
        ble.irq(self._irq)
        ble.active(True)
        ble.config(gap_name=self.name, mtu=MAX_FRAME + 3)
        try:  # what the stack offers: MicroPython's BTstack binding refuses every pairing setting
            ble.config(bond=True, le_secure=True, mitm=True, io=_IO_DISPLAY_ONLY)
            self.pairing = True
        except ValueError:
            self.pairing = False
        out("BLE: secure session over LESC bonding" if self.pairing
            else "BLE: secure session; link pairing unavailable (BTstack)")
        hw = pump.hw
        features = (FEATURE_KEYS if self.auth.keys else 0) | (FEATURE_PRESSURE if hw.pressure is not None else 0)
        features |= FEATURE_ENCODER if hw.encoder is not None else 0
        (self.h_battery, self.h_status, self.h_alarm, self.h_racp, self.h_history, self.h_command,
         self.h_features, self.h_session) = register(ble, bt, uid_hex, firmware, model, features, pump.nl_per_step,
                                                     pump.cfg.reservoir_ul, self.pairing)
        out_session = Indication(self.h_session, 64)  # the handshake, in clear
        self.sp = SessionPoint(self.auth.keys, binascii.unhexlify(uid_hex), urandom, new_ecb, out_session, self._log,
                               clock)
        session = self.sp.session
        # indications, highest priority first; sealed on their streams
        self._out_alarm = Indication(self.h_alarm, ALARM_LEN, session, STREAM_ALARM, readable=True)
        self._out_cmd = Indication(self.h_command, len(self._resp), session, STREAM_COMMAND)
        out_racp = Indication(self.h_racp, 6, session, STREAM_RACP)
        self.outbox = Outbox((out_session, self._out_alarm, self._out_cmd, out_racp))
        self.history = History(pump.log, out_racp, session)
        self._adv, self._adv_resp = advertising(self.name)
        self._reset_link()
        self._advertise()

    # ---- set-up ----
    def _advertise(self):
        self._ble.gap_advertise(ADV_INTERVAL_US, self._adv, resp_data=self._adv_resp)

    def _reset_link(self):
        self.conn = None
        self.sp.reset()
        self._opened = self.sp.opened
        self._dropping = False
        self.encrypted = False
        self.authenticated = False  # encrypted with a key from a MITM-protected pairing
        self.frame_size = MIN_FRAME
        self.interval_ms = _INTERVAL_MS
        self._cmd_rx.reset()
        self._cmd_ready = False
        self._cmd_err = 0
        self._cmd_why = ""
        self.history.reset()
        self.outbox.clear()
        self._st_sent = False
        self._status_due = None  # None: due at once
        self._al_key = -1

    def _log(self, code, a, b):
        p = self.pump
        try:
            p.log.append(p.wall_s(), code, a, b)
        except PumpError:
            pass

    # ---- IRQ: copy what arrived, set the flag ----
    def _irq(self, event, data):
        ble = self._ble
        if event == _IRQ_GET_SECRET:
            return self.secrets.get(data[0], data[1], data[2])
        if event == _IRQ_SET_SECRET:  # a pairing's keys are kept only once it proves MITM-authenticated
            self.flag.set()
            return self.secrets.set(data[0], data[1], data[2], self.conn is None or self.authenticated)
        result = None
        if event == _IRQ_CENTRAL_CONNECT:
            if self.conn is not None:
                ble.gap_disconnect(data[0])  # one central at a time
                return None
            self._reset_link()
            self.conn = data[0]
            if self.pairing:
                try:
                    ble.gap_pair(data[0])  # ask the central to encrypt (pair, or use its bond) at once
                except OSError:
                    pass
            self.flag.set()  # the BLE task starts the session's deadline
            return None
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] != self.conn:
                return None
            self._reset_link()
            self.secrets.drop()  # an unauthenticated pairing's keys go with its link
            ble.gatts_write(self.h_status, b"")  # nothing protected stays readable for the next central
            ble.gatts_write(self.h_alarm, b"")
            self._advertise()
        elif data[0] != self.conn:
            return None
        elif event == _IRQ_GATTS_WRITE:
            self._written(data[1])
        elif event == _IRQ_GATTS_READ_REQUEST:
            if not self._secure() and data[1] in (self.h_status, self.h_alarm):
                result = _ERR_INSUFFICIENT_ENCRYPTION
        elif event == _IRQ_GATTS_INDICATE_DONE:
            self.outbox.confirmed(data[2])  # not confirmed: the rest of that message is dropped
        elif event == _IRQ_MTU_EXCHANGED:
            self.frame_size = min(max(data[1] - 3, MIN_FRAME), MAX_FRAME)
        elif event == _IRQ_CONNECTION_UPDATE:
            self.interval_ms = max(data[1] * 5 // 4, 8)
        elif event == _IRQ_ENCRYPTION_UPDATE:
            self.encrypted = bool(data[1])
            self.authenticated = self.encrypted and bool(data[2])
            if self.authenticated:
                self.secrets.commit()
        elif event == _IRQ_PASSKEY_ACTION:
            passkey = 0  # nothing to compare or type on the pump: refuse such a pairing
            if data[1] == _PASSKEY_DISPLAY and self._urandom is not None:
                self.sp.extend(PAIRING_MS)  # a person types it: no disconnect at the session deadline meanwhile
                passkey = int.from_bytes(self._urandom(4), "little") % 1000000
                self._out("BLE pairing passkey %06d" % passkey)
            ble.gap_passkey(data[0], data[1], passkey)
        self.flag.set()
        return result

    def _secure(self):
        """Status, alarm and history may go out: an open session, over an encrypted link where the stack pairs."""
        return self.sp.open and (self.encrypted or not self.pairing)

    def _written(self, handle):
        data = self._ble.gatts_read(handle)
        if handle == self.h_session:
            self.sp.written(data)
        elif handle == self.h_command:  # one answer per message: a refusal waits for its last frame
            if self._cmd_ready:
                self._cmd_err, self._cmd_why = E_STATE, "busy"
                return
            r = self._cmd_rx.feed(data)
            if r == DONE:
                if not self.sp.open:
                    self._cmd_err, self._cmd_why = E_INSECURE, "open a secure session first"
                elif self.pairing and not self.authenticated:
                    self._cmd_err, self._cmd_why = E_INSECURE, "pair with MITM protection first"
                else:
                    self._cmd_ready = True
            elif r != MORE:
                self._cmd_err, self._cmd_why = r, self._cmd_rx.error
        elif handle == self.h_racp:
            self.history.written(data, self._secure())

    # ---- the BLE task ----
    def run(self, now):
        """Do what is due at ticks `now`; returns ms until the next call, or -1 to wait for `flag`."""
        if self.secrets.dirty:
            try:
                self.secrets.save()
            except PumpError:
                self.secrets.dirty = False  # that bond is lost: the central pairs again
        if self.conn is None:
            return -1
        sp = self.sp
        if not sp.run(self.frame_size):
            self._drop(now)
        if sp.opened != self._opened:  # a new session: its central gets the status and alarm afresh
            self._opened = sp.opened
            self._st_sent = False
            self._status_due = None
            self._al_key = -1
        self._command(now)
        history = self.history
        history.request(self.frame_size)
        wait = sp.wait_ms()
        if self._secure():
            self._alarm(now)
            if self._status(now):
                due = max(ticks_diff(self._status_due, now), 0)
                wait = due if wait < 0 else min(wait, due)
            if history.records is not None:
                history.stream(self._ble, self.conn, self.h_history, self.frame_size)
                wait = self.interval_ms if wait < 0 else min(wait, self.interval_ms)
        self._battery(now)
        self.outbox.send(self._ble, self.conn)
        return wait

    def _drop(self, now):
        """No session by the deadline, or too many failed handshakes: the link goes, so nobody holds the pump's one
        connection (asked once; the disconnect event resets the link)."""
        if self._dropping:
            return
        self._dropping = True
        if not self.sp.open and not self.sp.link_failures:
            self.sp.expired()
        try:
            self._ble.gap_disconnect(self.conn)
        except OSError:
            pass

    def _command(self, now):
        if self._out_cmd.pending():
            return  # the previous answer is still going out
        if self._cmd_err:
            self._respond(0, self._cmd_err, 0, self._cmd_why, not self.sp.open)
            self._cmd_err = 0
        elif self._cmd_ready:
            rx = self._cmd_rx
            self._cmd_ready = False
            code = self.sp.session.open_command(rx.buf, rx.n)
            if code:  # not sealed in this session, or not the session's role: refused (in clear when no session)
                self._respond(0, code, 0, "", not self.sp.open)
                return
            n = self.sp.session.n
            code, data = execute(self.pump, self.auth, rx.buf, n, now)
            self._respond(rx.buf[0] if n else 0, code, self.auth.last_counter(self.auth.role), data)
            self._status_due = None  # what the command changed shows at once

    def _respond(self, opcode, code, counter, data, clear=False):
        n = pack_response(self._resp, opcode, code, counter, data)
        self._out_cmd.queue(self._resp, n, self.frame_size, clear)

    def _status(self, now):
        """Notify the status when anything but the time changed, at most once per status_interval_ms; True when it
        must be looked at again at _status_due (too soon after the last one, or the stack was full). The app runs
        the BLE task whenever the pump ticked, so an unchanged status costs no wake-up."""
        if self._status_due is not None and ticks_diff(now, self._status_due) < 0:
            return True
        self._status_due = ticks_add(now, self.status_interval_ms)
        st = self._st
        last = self._st_last
        self.telemetry.status(st, now)
        same = self._st_sent
        if same:
            for i in range(4, STATUS_LEN):  # the time alone changing is no change
                if st[i] != last[i]:
                    same = False
                    break
        if same:
            return False
        for i in range(STATUS_LEN):
            last[i] = st[i]
        sealed = self._st_sealed
        n = self.sp.session.seal(STREAM_STATUS, st, STATUS_LEN, sealed)
        if not n:
            return False  # the session's status counter ran out: nothing leaves unsealed
        self._st_counter = c = (self._st_counter + 1) & 0xFF
        self._st_rd.pack(sealed, n, c, MAX_FRAME)
        ble = self._ble
        ble.gatts_write(self.h_status, self._st_rd.views[0])
        k = self._st_tx.pack(sealed, n, c, self.frame_size)
        views = self._st_tx.views
        self._st_sent = True
        for i in range(k):
            try:
                ble.gatts_notify(self.conn, self.h_status, views[i])
            except OSError:
                self._st_sent = False  # sent again at the next interval
                break
        if k * self.interval_ms > self.status_interval_ms:  # never faster than the link carries the frames
            self._status_due = ticks_add(now, k * self.interval_ms)
        return not self._st_sent

    def _alarm(self, now):
        al = self.pump.alarms
        key = al.active_bitmap << 8 | al.highest() << 4 | al.sounding(now)
        if key == self._al_key or self.outbox.inflight is self._out_alarm:
            return
        self._al_key = key
        self.telemetry.alarm(self._al, now)
        self._out_alarm.queue(self._al, ALARM_LEN, self.frame_size)

    def _battery(self, now):
        pct = self.pump.state(now).battery_pct
        if pct == self._batt_last:
            return
        self._batt_last = pct
        self._batt[0] = pct
        self._ble.gatts_write(self.h_battery, self._batt)
        try:
            self._ble.gatts_notify(self.conn, self.h_battery)
        except OSError:
            self._batt_last = NO_BATTERY
