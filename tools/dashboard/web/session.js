// The pump's secure session in the browser, on Web Crypto: the handshake on a role's key (fresh nonces from both
// ends, mutual proof), session keys by HKDF-SHA256, and sealed messages (AES-128-CTR, a 16-byte HMAC-SHA256 tag, a
// counter per stream). The protocol of lib/pump/session.py and lib/pump/seal.py, its constants from pumpdefs.json,
// checked against host_tests/support/vectors/session.json. The dashboard holds the monitor's key only: it opens a
// MonitorSession, and parseMonitorKey refuses a file that holds a command key.

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();

export class SessionError extends Error {
  constructor(defs, code, detail) {
    super("E" + code + " " + (defs.session.messages[code] || "error") + (detail ? ": " + detail : ""));
    this.code = code;
    this.detail = detail;
  }
}

function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof DataView) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return Uint8Array.from(data);
}

function concat(...parts) {
  const list = parts.map(asBytes);
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of list) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// a == b in a time that does not depend on where they differ
function same(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function fromHex(text) {
  if (typeof text !== "string" || !/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error("not hex");
  return Uint8Array.from(text.match(/../g) || [], (b) => parseInt(b, 16));
}

// The monitor's key from the file `python -m tools.keys --monitor-out` writes: {"monitor": "<64 hex>"}. A keys
// file holding the clinician's or the patient's key is refused: the browser never holds a key that commands.
export function parseMonitorKey(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error("monitor key: not a JSON file");
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new Error("monitor key: must be a JSON object");
  const others = Object.keys(doc).filter((k) => k !== "monitor");
  if (others.length) {
    throw new Error("monitor key: the file also holds " + others.join(", ") +
      ": load the monitor key alone (python -m tools.keys --monitor-out monitor.json)");
  }
  if (typeof doc.monitor !== "string" || !/^[0-9a-fA-F]{64}$/.test(doc.monitor)) {
    throw new Error("monitor key: monitor must be 64 hex digits");
  }
  return fromHex(doc.monitor);
}

// The session's keying material: HKDF-SHA256 with the role's key as salt, label || nonce_c || nonce_p as input and
// role || pump_id as info; {okm, c2p_enc, c2p_mac, p2c_enc, p2c_mac, central_proof, pump_proof}.
export async function deriveSession(defs, key, role, nonceC, nonceP, pumpId) {
  const s = defs.session;
  const ikm = await subtle.importKey("raw", concat(enc.encode(s.label), nonceC, nonceP), "HKDF", false,
    ["deriveBits"]);
  const params = { name: "HKDF", hash: "SHA-256", salt: asBytes(key), info: concat([role], pumpId) };
  const okm = new Uint8Array(await subtle.deriveBits(params, ikm, 8 * s.okm_len));
  const out = { okm };
  for (const [name, [at, n]] of Object.entries(s.okm)) out[name] = okm.slice(at, at + n);
  return out;
}

// One direction of a session: seal on the sending side, open on the receiving side, one at a time (a queue), so
// two messages opened at once cannot both pass the counter check.
export class Direction {
  static async create(defs, encKey, macKey) {
    const aes = await subtle.importKey("raw", encKey, "AES-CTR", false, ["encrypt", "decrypt"]);
    const mac = await subtle.importKey("raw", macKey, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Direction(defs, aes, mac);
  }

  constructor(defs, aes, mac) {
    this.defs = defs;
    this.aes = aes;
    this.mac = mac;
    this.seqs = new Array(defs.session.stream_count).fill(0);
    this.queue = Promise.resolve();
  }

  serial(fn) {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  // the counter block: the message's first five bytes, zeros, a 32-bit big-endian block counter from 0
  ctr(head) {
    const counter = new Uint8Array(16);
    counter.set(head.subarray(0, this.defs.session.head_len));
    return { name: "AES-CTR", counter, length: 32 };
  }

  async tag(body) {
    return new Uint8Array(await subtle.sign("HMAC", this.mac, body)).slice(0, this.defs.session.tag_len);
  }

  seal(stream, payload) {
    return this.serial(async () => {
      const s = this.defs.session;
      const seq = this.seqs[stream] + 1;
      if (seq > s.max_seq) throw new SessionError(this.defs, s.codes.insecure, "counter used up: a new session");
      const head = Uint8Array.of(stream, seq & 0xff, (seq >>> 8) & 0xff, (seq >>> 16) & 0xff, seq >>> 24);
      const body = concat(head, new Uint8Array(await subtle.encrypt(this.ctr(head), this.aes, asBytes(payload))));
      this.seqs[stream] = seq;
      return concat(body, await this.tag(body));
    });
  }

  open(stream, data) {
    return this.serial(async () => {
      const s = this.defs.session;
      const msg = asBytes(data);
      const n = msg.length;
      const refuse = (code) => { throw new SessionError(this.defs, code, "sealed message"); };
      if (n < s.overhead || !(stream > 0 && stream < s.stream_count) || msg[0] !== stream || msg[4] > 0x3f) {
        refuse(s.codes.malformed);
      }
      const seq = msg[1] | (msg[2] << 8) | (msg[3] << 16) | (msg[4] << 24);
      if (seq <= this.seqs[stream]) refuse(s.codes.replay);
      const body = msg.slice(0, n - s.tag_len);
      if (!same(await this.tag(body), msg.subarray(n - s.tag_len))) refuse(s.codes.auth);
      const plain = new Uint8Array(await subtle.decrypt(this.ctr(body), this.aes, body.subarray(s.head_len)));
      this.seqs[stream] = seq;
      return plain;
    });
  }
}

// A central's end of a session for any role (the vectors check every role); the dashboard uses MonitorSession.
export class CentralSession {
  constructor(defs, key, role, pumpId = null) {
    this.defs = defs;
    this.key = asBytes(key);
    this.role = role;
    this.expect = pumpId === null ? null : asBytes(pumpId);
    this.reset();
  }

  reset() {
    this.state = "idle";
    this.nonce = null;
    this.keys = null;
    this.pumpId = null;
    this.tx = null;
    this.rx = null;
  }

  fail(code, detail) {
    throw new SessionError(this.defs, code, detail);
  }

  // a RESULT refusing the handshake raises the pump's code
  refused(msg) {
    const t = this.defs.session.types;
    if (msg.length === 3 && msg[0] === t.result && (msg[1] | (msg[2] << 8))) {
      this.fail(msg[1] | (msg[2] << 8), "refused by the pump");
    }
  }

  hello(nonceC = globalThis.crypto.getRandomValues(new Uint8Array(this.defs.session.nonce_len))) {
    const s = this.defs.session;
    if (nonceC.length !== s.nonce_len) throw new Error("nonce: " + s.nonce_len + " bytes");
    this.reset();
    this.nonce = asBytes(nonceC);
    this.state = "hello";
    return concat([s.types.hello, s.version, this.role], this.nonce);
  }

  async confirm(data) {
    const s = this.defs.session;
    const msg = asBytes(data);
    if (this.state !== "hello") this.fail(s.codes.state, "no HELLO sent");
    this.refused(msg);
    const m = msg.length > 19 ? msg[19] : 0;
    if (msg.length !== 36 + m || msg[0] !== s.types.challenge || msg[1] !== s.version || msg[2] !== this.role ||
        !(m > 0 && m <= s.max_id)) {
      this.fail(s.codes.malformed, "challenge");
    }
    const pumpId = msg.slice(20, 20 + m);
    if (this.expect !== null && !same(pumpId, this.expect)) this.fail(s.codes.auth, "challenge from another pump");
    const keys = await deriveSession(this.defs, this.key, this.role, this.nonce, msg.slice(3, 19), pumpId);
    if (!same(keys.pump_proof, msg.subarray(20 + m))) this.fail(s.codes.auth, "pump proof");
    this.keys = keys;
    this.pumpId = pumpId;
    this.state = "confirmed";
    return concat([s.types.confirm], keys.central_proof);
  }

  async established(data) {
    const s = this.defs.session;
    const msg = asBytes(data);
    if (this.state !== "confirmed") this.fail(s.codes.state, "no CONFIRM sent");
    this.refused(msg);
    if (msg.length !== 3 || msg[0] !== s.types.result) this.fail(s.codes.malformed, "result");
    this.tx = await Direction.create(this.defs, this.keys.c2p_enc, this.keys.c2p_mac);
    this.rx = await Direction.create(this.defs, this.keys.p2c_enc, this.keys.p2c_mac);
    this.state = "open";
  }

  async seal(stream, payload) {
    if (this.state !== "open") this.fail(this.defs.session.codes.insecure, "no session");
    return this.tx.seal(stream, payload);
  }

  async open(stream, msg) {
    if (this.state !== "open") this.fail(this.defs.session.codes.insecure, "no session");
    return this.rx.open(stream, msg);
  }
}

// The dashboard's session: the monitor role, read-only (status, alarms, history).
export class MonitorSession extends CentralSession {
  constructor(defs, key, pumpId = null) {
    super(defs, key, defs.session.roles.monitor, pumpId);
  }
}
