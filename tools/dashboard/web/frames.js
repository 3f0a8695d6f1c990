// Pump BLE frames and payloads in the browser: CRC-16 frames, reassembly, and the status, alarm, features and
// history layouts. Layouts and names come from pumpdefs.json (generated from the firmware by
// tools/dashboard/webdefs.py); every decoder returns what tools/pumplink/proto.py returns for the same bytes.

export class FrameError extends Error {
  constructor(reason) {
    super("frame refused: " + reason);
    this.reason = reason;
  }
}

// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as pump/frames.py.
export function crc16(bytes, start = 0, end = bytes.length) {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i] << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

// CRC-32 (IEEE, as zlib.crc32) of history records.
export function crc32(bytes, start = 0, end = bytes.length) {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i];
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof DataView) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return Uint8Array.from(data);
}

// One message from its frames, as pump/frames.Reassembler: feed(frame) gives the payload when complete, else null.
export class Reassembler {
  constructor(defs, cap = 4096) {
    this.f = defs.frame;
    this.cap = cap;
    this.reset();
  }

  reset() {
    this.parts = [];
    this.n = 0;
    this.next = 0;
    this.e2e = 0;
  }

  feed(data) {
    const frame = asBytes(data);
    const f = this.f;
    const size = frame.length;
    const fail = (why) => {
      this.reset();
      throw new FrameError(why);
    };
    if (size < f.overhead) fail("short");
    const ctl = frame[0];
    if ((ctl & 0x7f) !== f.version) fail("version");
    if (crc16(frame, 0, size - 2) !== (frame[size - 2] | (frame[size - 1] << 8))) fail("crc");
    const idx = frame[2];
    if (idx === 0) {
      this.parts = [];
      this.n = 0;
      this.e2e = frame[1];
    } else if (idx !== this.next || frame[1] !== this.e2e) {
      fail("order");
    }
    const chunk = frame.slice(f.header, size - 2);
    if (this.n + chunk.length > this.cap || (idx === 255 && !(ctl & f.last))) fail("length");
    this.parts.push(chunk);
    this.n += chunk.length;
    if (ctl & f.last) {
      const out = new Uint8Array(this.n);
      let o = 0;
      for (const p of this.parts) {
        out.set(p, o);
        o += p.length;
      }
      this.parts = [];
      this.next = 0;
      return out;
    }
    this.next = idx + 1;
    return null;
  }
}

// The frames of one message (Uint8Arrays of at most `size` bytes), as pump/frames.split.
export function split(defs, payload, e2e, size = defs.frame.min_frame) {
  const f = defs.frame;
  const bytes = asBytes(payload);
  const per = Math.min(size, f.max_frame) - f.overhead;
  const k = bytes.length ? Math.ceil(bytes.length / per) : 1;
  const out = [];
  for (let i = 0; i < k; i++) {
    const chunk = bytes.slice(i * per, Math.min((i + 1) * per, bytes.length));
    const frame = new Uint8Array(chunk.length + f.overhead);
    frame[0] = i === k - 1 ? f.version | f.last : f.version;
    frame[1] = e2e & 0xff;
    frame[2] = i;
    frame.set(chunk, f.header);
    const c = crc16(frame, 0, f.header + chunk.length);
    frame[f.header + chunk.length] = c & 0xff;
    frame[f.header + chunk.length + 1] = c >> 8;
    out.push(frame);
  }
  return out;
}

// The payload of one message given as one frame (a read value) or a list of frames.
export function unframe(defs, frames) {
  const list = Array.isArray(frames) ? frames : [frames];
  const r = new Reassembler(defs);
  let payload = null;
  for (const frame of list) {
    if (payload !== null) throw new FrameError("order");
    payload = r.feed(frame);
  }
  if (payload === null) throw new FrameError("length");
  return payload;
}

// Python struct formats of the layouts: little-endian ("<") B b H h I i only.
const SIZES = { B: 1, b: 1, H: 2, h: 2, I: 4, i: 4 };

export function calcsize(format) {
  let n = 0;
  for (const c of format.slice(1)) n += SIZES[c];
  return n;
}

export function unpack(format, data) {
  const bytes = asBytes(data);
  if (format[0] !== "<") throw new Error("little-endian formats only");
  if (bytes.length !== calcsize(format)) throw new Error("expected " + calcsize(format) + " bytes, got " + bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  let o = 0;
  for (const c of format.slice(1)) {
    if (c === "B") out.push(view.getUint8(o));
    else if (c === "b") out.push(view.getInt8(o));
    else if (c === "H") out.push(view.getUint16(o, true));
    else if (c === "h") out.push(view.getInt16(o, true));
    else if (c === "I") out.push(view.getUint32(o, true));
    else if (c === "i") out.push(view.getInt32(o, true));
    else throw new Error("format " + c);
    o += SIZES[c];
  }
  return out;
}

function fields(layout, data) {
  const values = unpack(layout.format, data);
  const out = {};
  layout.fields.forEach((name, i) => { out[name] = values[i]; });
  return out;
}

function alarmList(bitmap, codes = 32) {
  const out = [];
  for (let code = 1; code <= codes; code++) if ((bitmap >>> (code - 1)) & 1) out.push(code);
  return out;
}

// Version 2 (34 bytes), or version 1 (29 bytes) from a recording made before it: a u16 alarm bitmap, no
// eri_day or flags.
export function decodeStatus(defs, payload) {
  const v1 = payload.length === defs.layouts.status_v1.size;
  const s = fields(v1 ? defs.layouts.status_v1 : defs.layouts.status, payload);
  const none = defs.none;
  if (v1) { s.eri_day = none.eri_day; s.flags = 0; }
  return {
    version: v1 ? 1 : 2,
    t_s: s.t_s, mode: s.mode, mode_name: s.mode < defs.modes.length ? defs.modes[s.mode] : null,
    state: s.state, state_name: s.state < defs.states.length ? defs.states[s.state] : "state " + s.state,
    rate_nl_per_day: s.rate_nl_per_day, today_nl: s.today_nl, total_ul: s.total_ul, reservoir_nl: s.reservoir_nl,
    empty_day: s.empty_day === none.empty_day ? null : s.empty_day,
    battery_pct: s.battery_pct === none.battery_pct ? null : s.battery_pct,
    alarms: alarmList(s.alarm_bitmap), alarm_bitmap: s.alarm_bitmap,
    pressure_kpa_x10: s.pressure_kpa_x10 === none.pressure_kpa_x10 ? null : s.pressure_kpa_x10,
    eri_day: s.eri_day === none.eri_day ? null : s.eri_day, flags: s.flags, clock_unset: Boolean(s.flags & 1),
  };
}

export function decodeAlarm(defs, payload) {
  const a = fields(defs.layouts.alarm, payload);
  const known = defs.alarms[String(a.code)];
  return {
    code: a.code, name: known ? known.name : "", priority: a.priority, since_s: a.since_s,
    alarms: alarmList(a.alarm_bitmap, 16), alarm_bitmap: a.alarm_bitmap, sounding: a.sounding,
  };
}

export function decodeFeatures(defs, payload) {
  const f = fields(defs.layouts.features, payload);
  const flags = defs.features_flags;
  return {
    flags: f.flags, keys: Boolean(f.flags & flags.keys), pressure_sensor: Boolean(f.flags & flags.pressure_sensor),
    encoder: Boolean(f.flags & flags.encoder), command_max: f.command_max, nl_per_step: f.nl_per_step,
    reservoir_ul: f.reservoir_ul,
  };
}

export function decodeRecord(defs, payload) {
  const bytes = asBytes(payload);
  const layout = defs.layouts.record;
  if (bytes.length !== layout.size) throw new Error("not a valid event record");
  const r = fields(layout, bytes);
  if (r.format !== 1 || r.seq === 0 || crc32(bytes, 0, layout.crc_of) !== r.crc) throw new Error("not a valid event record");
  const ev = defs.events[String(r.code)];
  const args = ev ? ev.args : ["a", "b"];
  const out = { seq: r.seq, t_s: r.t_s, code: r.code, a: r.a, b: r.b, text: ev ? ev.text : "event " + r.code,
    a_name: args[0], b_name: args[1] };
  if (args[1] === "kind") out.kind = kindText(defs, r.b);
  return out;
}

// An event record's arguments in words for the history view: names decoded from the firmware's definitions
// (pumpdefs.json: modes, alarms, bolus kinds, error codes, reset causes), units where the name carries one.
export function describeRecord(defs, r) {
  const word = (name, v) => {
    if (name === "alarm") return defs.alarms[String(v)] ? defs.alarms[String(v)].text : "alarm " + v;
    if (name === "mode") return defs.modes[v] !== undefined ? defs.modes[v] + " program" : "mode " + v;
    if (name === "reset_cause") return defs.reset_causes[String(v)] || "reset cause " + v;
    if (name === "kind") return kindText(defs, v);
    if (name === "error") return defs.errors[String(v)] || "error " + v;
    if (name === "reason") return v === 0 ? "by the user" : "by the alarm " + word("alarm", v);
    if (name.endsWith("_ng")) return (v / 1000) + " ug";
    if (name.endsWith("_nl")) return (v / 1000) + " uL";
    if (name.endsWith("_ul")) return v + " uL";
    if (name.endsWith("_s")) return v + " s";
    return name + " " + v;
  };
  return [[r.a_name, r.a], [r.b_name, r.b]].filter(([name]) => name).map(([n, v]) => word(n, v)).join(", ");
}

// A bolus kind (argument b of the bolus events) in words, as tools.pumplink.proto.kind_text.
export function kindText(defs, kind) {
  const names = defs.bolus_kinds;
  return kind > 0 && kind < names.length ? names[kind] : "kind " + kind;
}

// A RACP request (op, operator, and the sequence numbers it needs), as tools.pumplink.proto.racp_request.
export function racpRequest(defs, op, operator = defs.racp.all, first = 0, last = 0) {
  const r = defs.racp;
  if (op === r.abort) return Uint8Array.of(op, r.null);
  if (operator === r.le || operator === r.ge || operator === r.range) {
    const out = new Uint8Array(operator === r.range ? 11 : 7);
    const view = new DataView(out.buffer);
    out.set([op, operator, r.filter_seq]);
    view.setUint32(3, operator === r.le ? last : first, true);
    if (operator === r.range) view.setUint32(7, last, true);
    return out;
  }
  return Uint8Array.of(op, operator);
}

// A RACP answer: {count} or {request, code}.
export function decodeRacp(defs, data) {
  const p = asBytes(data);
  if (p.length === 6 && p[0] === defs.racp.number) return { count: new DataView(p.buffer, p.byteOffset).getUint32(2, true) };
  if (p.length === 4 && p[0] === defs.racp.response) return { request: p[2], code: p[3] };
  throw new Error("not a RACP answer");
}

// "YYYY-MM-DD" of a day number counted from 2000-01-01 (the pump's calendar), and of seconds since then.
export function dateOfDay(day) {
  return new Date(Date.UTC(2000, 0, 1) + day * 86400000).toISOString().slice(0, 10);
}

export function timeOfSeconds(s) {
  return new Date(Date.UTC(2000, 0, 1) + s * 1000).toISOString().slice(0, 16).replace("T", " ");
}
