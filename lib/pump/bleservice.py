"""The pump's BLE peripheral on MicroPython's low-level `bluetooth` API (module and BLE object injected): advertising,
Device Information, Battery, and the pump service (status, alarm, history RACP, command point, features), with LE
Secure Connections bonding and notifications on change at a bounded rate. docs/ble.md describes the protocol.

IRQ handlers only copy what arrived and set `flag`; `run(now)`, called by the app's BLE task, runs commands and sends
responses, indications and notifications, and returns when it wants to run again.
"""

import binascii
import struct

from pump import racp
from pump.blesecrets import Secrets
from pump.cmdauth import CommandAuth
from pump.commands import RESPONSE_LEN, execute, pack_response
from pump.compat import const, ticks_add, ticks_diff
from pump.errors import E_INSECURE, E_STATE, PumpError
from pump.eventlog import RECORD_SIZE, encode
from pump.frames import DONE, MAX_FRAME, MIN_FRAME, MORE, Framer, Reassembler
from pump.telemetry import ALARM_LEN, NO_BATTERY, STATUS_LEN, Telemetry

try:
    from asyncio import ThreadSafeFlag as _Flag  # MicroPython: IRQ handlers may set it
except ImportError:
    from asyncio import Event as _Flag  # CPython: the bluetooth shim calls IRQ handlers from the event loop

SERVICE_UUID = "7b0d0001-b4cc-4e13-8bcc-33c19f4e4a2a"
STATUS_UUID = "7b0d0002-b4cc-4e13-8bcc-33c19f4e4a2a"
ALARM_UUID = "7b0d0003-b4cc-4e13-8bcc-33c19f4e4a2a"
RACP_UUID = "7b0d0004-b4cc-4e13-8bcc-33c19f4e4a2a"
HISTORY_UUID = "7b0d0005-b4cc-4e13-8bcc-33c19f4e4a2a"
COMMAND_UUID = "7b0d0006-b4cc-4e13-8bcc-33c19f4e4a2a"
FEATURES_UUID = "7b0d0007-b4cc-4e13-8bcc-33c19f4e4a2a"
DIS_UUID = const(0x180A)
BATTERY_UUID = const(0x180F)
BATTERY_LEVEL_UUID = const(0x2A19)
USER_DESCRIPTION_UUID = const(0x2901)
PRESENTATION_FORMAT_UUID = const(0x2904)
DIS_CHARS = (0x2A29, 0x2A24, 0x2A25, 0x2A26)  # manufacturer, model, serial number, firmware revision
MANUFACTURER = "pump prototype"
DESCRIPTIONS = ("Pump status", "Pump alarm", "History RACP", "History records", "Command point", "Pump features")
FEATURES = "<HHII"  # flags, largest command message, nL per step, reservoir capacity µL
FEATURE_KEYS = const(1)  # command keys provisioned
FEATURE_PRESSURE = const(2)  # occlusion sensing by a pressure sensor
FEATURE_ENCODER = const(4)  # stall detection by an encoder
CMD_MAX = const(3072)  # longest command message (a program's JSON up to about 3 KB)

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
_F_READ = const(0x0002)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
_F_INDICATE = const(0x0020)
_F_READ_ENCRYPTED = const(0x0200)
_F_WRITE_ENCRYPTED = const(0x1000)
_F_WRITE_AUTHENTICATED = const(0x2000)
_ADV_INTERVAL_US = const(1000000)  # as docs/battery.md budgets it
_INTERVAL_MS = const(50)  # connection interval assumed until the central reports one
_HISTORY_BURST = const(4)  # history frames per connection interval
# Presentation Format: struct (opaque, read as the framed layout of docs/ble.md), and the battery's uint8 percent
_FORMAT_STRUCT = b"\x1b\x00\x00\x27\x01\x00\x00"
_FORMAT_PERCENT = b"\x04\x00\xad\x27\x01\x00\x00"


def _ad(kind, data):
    return bytes((len(data) + 1, kind)) + data


class PumpService:
    """The BLE peripheral of one Pump. `keys`: {role: pump.hmac.Hmac} from keys.json, or None (commands refused), or
    `auth` the CommandAuth the pump shares with its other command paths;
    `urandom(n)` makes pairing passkeys; `out(text)` shows them to the person pairing (the console)."""

    def __init__(self, ble, bt, pump, storage, uid_hex, firmware, clock, keys=None, urandom=None, out=print,
                 model="pump", status_interval_ms=1000, auth=None):
        self._ble = ble
        self.pump = pump
        self._urandom = urandom
        self._out = out
        self.status_interval_ms = status_interval_ms
        self.flag = _Flag()
        self.telemetry = Telemetry(pump)
        if auth is None:
            auth = CommandAuth(storage, keys, self._log, clock.ticks_ms(), pump.safety.alarms)
            if auth.lost:
                out("command counters lost: BLE commands refused until a new keys.json is provisioned over USB")
        self.auth = auth  # the pump's one CommandAuth when the app shares it with the wired path (pump.wired)
        self.secrets = Secrets(storage)
        self.name = "PUMP-" + uid_hex[-4:].upper()
        self._cmd_rx = Reassembler(CMD_MAX)
        self._racp_rx = Reassembler(16)
        self._st = bytearray(STATUS_LEN)
        self._st_last = bytearray(STATUS_LEN)
        self._st_tx = Framer(STATUS_LEN)
        self._st_rd = Framer(STATUS_LEN)
        self._al = bytearray(ALARM_LEN)
        self._resp = bytearray(RESPONSE_LEN + 48)
        self._racp_msg = bytearray(6)
        self._rec = bytearray(RECORD_SIZE)
        self._rec_body = memoryview(self._rec)[:20]
        self._rec_tx = Framer(RECORD_SIZE)
        self._batt = bytearray(1)
        self._batt_last = NO_BATTERY
        self._e2e = bytearray(2)  # message counters of status and history (the outbox keeps the others')
        ble.irq(self._irq)
        ble.active(True)
        ble.config(gap_name=self.name, mtu=MAX_FRAME + 3, bond=True, le_secure=True, mitm=True, io=_IO_DISPLAY_ONLY)
        self._register(bt, uid_hex, firmware, model)
        # indication outbox, highest priority first: [value handle, framer, frames, frames sent, message counter]
        self._out_alarm = [self.h_alarm, Framer(ALARM_LEN), 0, 0, 0]
        self._out_cmd = [self.h_command, Framer(len(self._resp)), 0, 0, 0]
        self._out_racp = [self.h_racp, Framer(len(self._racp_msg)), 0, 0, 0]
        self._outbox = (self._out_alarm, self._out_cmd, self._out_racp)
        uuid_le = bytes(reversed(binascii.unhexlify(SERVICE_UUID.replace("-", ""))))
        self._adv = b"\x02\x01\x06" + _ad(0x09, self.name.encode())
        self._adv_resp = _ad(0x07, uuid_le)
        self._reset_link()
        self._advertise()

    # ---- set-up ----
    def _register(self, bt, uid_hex, firmware, model):
        U = bt.UUID
        descs = ((U(USER_DESCRIPTION_UUID), _F_READ), (U(PRESENTATION_FORMAT_UUID), _F_READ))
        flags = (_F_READ | _F_NOTIFY | _F_READ_ENCRYPTED, _F_READ | _F_INDICATE | _F_READ_ENCRYPTED,
                 _F_WRITE | _F_INDICATE | _F_WRITE_ENCRYPTED, _F_NOTIFY,
                 _F_WRITE | _F_INDICATE | _F_WRITE_AUTHENTICATED, _F_READ)
        uuids = (STATUS_UUID, ALARM_UUID, RACP_UUID, HISTORY_UUID, COMMAND_UUID, FEATURES_UUID)
        chars = [(U(uuids[i]), flags[i], descs) for i in range(6)]
        level = (U(BATTERY_LEVEL_UUID), _F_READ | _F_NOTIFY, ((U(PRESENTATION_FORMAT_UUID), _F_READ),))
        dis, bat, h = self._ble.gatts_register_services((
            (U(DIS_UUID), [(U(u), _F_READ) for u in DIS_CHARS]),
            (U(BATTERY_UUID), (level,)),
            (U(SERVICE_UUID), chars),
        ))
        write = self._ble.gatts_write
        for handle, text in zip(dis, (MANUFACTURER, model, uid_hex, firmware)):
            write(handle, text.encode())
        self.h_battery = bat[0]
        write(bat[1], _FORMAT_PERCENT)
        for i in range(6):
            write(h[3 * i + 1], DESCRIPTIONS[i].encode())
            write(h[3 * i + 2], _FORMAT_STRUCT)
        self.h_status, self.h_alarm, self.h_racp, self.h_history, self.h_command, self.h_features = (
            h[0], h[3], h[6], h[9], h[12], h[15])
        self._ble.gatts_set_buffer(self.h_command, MAX_FRAME)
        self._ble.gatts_set_buffer(self.h_racp, MAX_FRAME)
        p = self.pump
        feat = (FEATURE_KEYS if self.auth.keys else 0) | (FEATURE_PRESSURE if p.hw.pressure is not None else 0)
        feat |= FEATURE_ENCODER if getattr(p.hw, "encoder", None) is not None else 0
        f = Framer(12)
        f.pack(struct.pack(FEATURES, feat, CMD_MAX, p.nl_per_step, p.cfg.reservoir_ul), 12, 0, MAX_FRAME)
        write(self.h_features, f.views[0])

    def _advertise(self):
        self._ble.gap_advertise(_ADV_INTERVAL_US, self._adv, resp_data=self._adv_resp)

    def _reset_link(self):
        self.conn = None
        self.encrypted = False
        self.authenticated = False  # encrypted with a key from a MITM-protected pairing
        self.frame_size = MIN_FRAME
        self.interval_ms = _INTERVAL_MS
        self._cmd_rx.reset()
        self._cmd_ready = False
        self._cmd_err = 0
        self._cmd_why = ""
        self._racp_rx.reset()
        self._racp_ready = False
        self._racp_err = 0
        self._hist = None
        self._inflight = None
        for e in self._outbox:
            e[2] = e[3] = 0
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
        if event == _IRQ_SET_SECRET:
            self.flag.set()
            return self.secrets.set(data[0], data[1], data[2])
        result = None
        if event == _IRQ_CENTRAL_CONNECT:
            if self.conn is not None:
                ble.gap_disconnect(data[0])  # one central at a time
                return None
            self._reset_link()
            self.conn = data[0]
            try:
                ble.gap_pair(data[0])  # ask the central to encrypt (pair, or use its bond) at once
            except OSError:
                pass
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] != self.conn:
                return None
            self._reset_link()
            ble.gatts_write(self.h_status, b"")  # nothing protected stays readable for the next central
            ble.gatts_write(self.h_alarm, b"")
            self._advertise()
        elif data[0] != self.conn:
            return None
        elif event == _IRQ_GATTS_WRITE:
            self._written(data[1])
        elif event == _IRQ_GATTS_READ_REQUEST:
            if not self.encrypted and data[1] in (self.h_status, self.h_alarm):
                result = _ERR_INSUFFICIENT_ENCRYPTION
        elif event == _IRQ_GATTS_INDICATE_DONE:
            e = self._inflight
            self._inflight = None
            if e is not None and data[2]:
                e[3] = e[2]  # not confirmed: the rest of that message is dropped
        elif event == _IRQ_MTU_EXCHANGED:
            self.frame_size = min(max(data[1] - 3, MIN_FRAME), MAX_FRAME)
        elif event == _IRQ_CONNECTION_UPDATE:
            self.interval_ms = max(data[1] * 5 // 4, 8)
        elif event == _IRQ_ENCRYPTION_UPDATE:
            self.encrypted = bool(data[1])
            self.authenticated = self.encrypted and bool(data[2])
        elif event == _IRQ_PASSKEY_ACTION:
            passkey = 0  # nothing to compare or type on the pump: refuse such a pairing
            if data[1] == _PASSKEY_DISPLAY and self._urandom is not None:
                passkey = int.from_bytes(self._urandom(4), "little") % 1000000
                self._out("BLE pairing passkey %06d" % passkey)
            ble.gap_passkey(data[0], data[1], passkey)
        self.flag.set()
        return result

    def _written(self, handle):
        data = self._ble.gatts_read(handle)
        if handle == self.h_command:
            if not self.authenticated:
                self._cmd_err, self._cmd_why = E_INSECURE, "pair with MITM protection first"
            elif self._cmd_ready:
                self._cmd_err, self._cmd_why = E_STATE, "busy"
            else:
                r = self._cmd_rx.feed(data)
                if r == DONE:
                    self._cmd_ready = True
                elif r != MORE:
                    self._cmd_err, self._cmd_why = r, self._cmd_rx.error
        elif handle == self.h_racp:
            if not self.encrypted:
                self._racp_err = racp.RC_INSECURE
            elif self._racp_ready:
                self._racp_err = racp.RC_NOT_COMPLETED
            else:
                r = self._racp_rx.feed(data)
                if r == DONE:
                    self._racp_ready = True
                elif r != MORE:
                    self._racp_err = racp.RC_BAD_FRAME

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
        self._command(now)
        self._racp_request()
        wait = -1
        if self.encrypted:
            self._alarm(now)
            if self._status(now):
                wait = max(ticks_diff(self._status_due, now), 0)
            if self._hist is not None:
                self._stream()
                wait = self.interval_ms if wait < 0 else min(wait, self.interval_ms)
        self._battery()
        self._indicate()
        return wait

    def _command(self, now):
        e = self._out_cmd
        if e[3] < e[2]:
            return  # the previous answer is still going out
        if self._cmd_err:
            self._respond(0, self._cmd_err, 0, self._cmd_why)
            self._cmd_err = 0
        elif self._cmd_ready:
            rx = self._cmd_rx
            code, data = execute(self.pump, self.auth, rx.buf, rx.n, now)
            self._respond(rx.buf[0] if rx.n else 0, code, self.auth.last_counter(self.auth.role), data)
            self._cmd_ready = False
            self._status_due = None  # what the command changed shows at once

    def _respond(self, opcode, code, counter, data):
        n = pack_response(self._resp, opcode, code, counter, data)
        self._queue(self._out_cmd, self._resp, n)

    def _queue(self, e, msg, n):
        e[4] = (e[4] + 1) & 0xFF
        e[2] = e[1].pack(msg, n, e[4], self.frame_size)
        e[3] = 0

    def _racp_request(self):
        e = self._out_racp
        if e[3] < e[2]:
            return
        if self._racp_err:
            self._racp_respond(0, self._racp_err)
            self._racp_err = 0
        elif self._racp_ready:
            rx = self._racp_rx
            log = self.pump.log
            op, code, first, last = racp.parse(rx.buf, rx.n, log.first_seq, log.last_seq)
            self._racp_ready = False
            if code:
                self._racp_respond(op, code)
            elif op == racp.OP_ABORT:
                self._hist = None
                self._racp_respond(op, racp.RC_SUCCESS)
            elif self._hist is not None:
                self._racp_respond(op, racp.RC_NOT_COMPLETED)
            elif op == racp.OP_COUNT:
                n = 0
                try:
                    for _ in log.read(first, last):
                        n += 1
                except PumpError:  # the log could not be read (storage failure)
                    self._racp_respond(op, racp.RC_NOT_COMPLETED)
                    return
                struct.pack_into(racp.NUMBER, self._racp_msg, 0, racp.OP_NUMBER, racp.OPR_NULL, n)
                self._queue(e, self._racp_msg, 6)
            else:
                self._hist = log.read(first, last)
                self._hist_n = 0
                self._rec_k = self._rec_i = 0

    def _racp_respond(self, op, code):
        struct.pack_into(racp.RESPONSE, self._racp_msg, 0, racp.OP_RESPONSE, racp.OPR_NULL, op, code)
        self._queue(self._out_racp, self._racp_msg, 4)

    def _stream(self):
        e = self._out_racp
        hist = self._hist
        if hist is None or e[3] < e[2]:
            return  # a RACP answer is going out first
        views = self._rec_tx.views
        for _ in range(_HISTORY_BURST):
            if self._rec_i >= self._rec_k:
                try:
                    rec = next(hist)
                except StopIteration:
                    self._hist = None
                    self._racp_respond(racp.OP_REPORT, racp.RC_SUCCESS if self._hist_n else racp.RC_NO_RECORDS)
                    return
                except PumpError:  # the log could not be read (storage failure)
                    self._hist = None
                    self._racp_respond(racp.OP_REPORT, racp.RC_NOT_COMPLETED)
                    return
                encode(self._rec, self._rec_body, rec[0], rec[1], rec[2], rec[3], rec[4])
                self._e2e[1] = (self._e2e[1] + 1) & 0xFF
                self._rec_k = self._rec_tx.pack(self._rec, RECORD_SIZE, self._e2e[1], self.frame_size)
                views = self._rec_tx.views
                self._rec_i = 0
                self._hist_n += 1
            try:
                self._ble.gatts_notify(self.conn, self.h_history, views[self._rec_i])
            except OSError:
                return  # the stack's buffers are full: the same frame again next interval
            self._rec_i += 1

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
        self._e2e[0] = c = (self._e2e[0] + 1) & 0xFF
        self._st_rd.pack(st, STATUS_LEN, c, MAX_FRAME)
        ble = self._ble
        ble.gatts_write(self.h_status, self._st_rd.views[0])
        k = self._st_tx.pack(st, STATUS_LEN, c, self.frame_size)
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
        al = self.pump.safety.alarms
        key = al.active_bitmap << 8 | al.highest() << 4 | al.sounding(now)
        if key == self._al_key or self._out_alarm is self._inflight:
            return
        self._al_key = key
        self.telemetry.alarm(self._al, now)
        self._queue(self._out_alarm, self._al, ALARM_LEN)

    def _battery(self):
        pct = self.telemetry.battery()
        if pct == self._batt_last:
            return
        self._batt_last = pct
        self._batt[0] = pct
        self._ble.gatts_write(self.h_battery, self._batt)
        try:
            self._ble.gatts_notify(self.conn, self.h_battery)
        except OSError:
            self._batt_last = NO_BATTERY

    def _indicate(self):
        if self._inflight is not None:
            return
        for e in self._outbox:
            if e[3] < e[2]:
                self._ble.gatts_write(e[0], e[1].views[e[3]])
                try:
                    self._ble.gatts_indicate(self.conn, e[0])
                except OSError:
                    return  # tried again at the next run
                e[3] += 1
                self._inflight = e
                return
