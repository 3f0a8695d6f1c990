// tools/dashboard/web/session.js (Web Crypto) against the session vectors (host_tests/support/vectors/session.json, made by
// verify/session_vectors.py from the firmware): keys of every session, the central's handshake messages from the
// fixed nonces, every sealed message each way (and its frames), every refusal with its code and the counters left
// as they were, the pump's RESULT refusals, and the monitor key file check. Prints one line per failure and exits 1
// if any; else "N checks, 0 failed".
import { readFileSync } from "node:fs";
import { split } from "../../../tools/dashboard/web/frames.js";
import {
  CentralSession, MonitorSession, SessionError, deriveSession, fromHex, parseMonitorKey,
} from "../../../tools/dashboard/web/session.js";

const defs = JSON.parse(readFileSync(new URL("../../../tools/dashboard/web/pumpdefs.json", import.meta.url)));
const vectors = JSON.parse(readFileSync(process.argv[2] || new URL("../vectors/session.json", import.meta.url)));
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
let checks = 0;
const failures = [];
function check(ok, what) {
  checks++;
  if (!ok) failures.push(what);
}
async function code(promise) {
  try {
    await promise;
  } catch (e) {
    return e instanceof SessionError ? e.code : String(e);
  }
  return 0;
}

if (vectors.format !== 1) failures.push("vectors format " + vectors.format);
check(vectors.label === defs.session.label, "label");
const pumpId = fromHex(vectors.pump_id);
for (const s of vectors.sessions) {
  const key = fromHex(vectors.keys[s.key]);
  const keys = await deriveSession(defs, key, s.role, fromHex(s.nonce_c), fromHex(s.nonce_p), pumpId);
  check(toHex(keys.okm) === s.okm, s.name + ": okm");
  for (const [name, value] of Object.entries(s.keys)) check(toHex(keys[name]) === value, s.name + ": key " + name);
  const c = s.role === defs.session.roles.monitor ? new MonitorSession(defs, key, pumpId)
    : new CentralSession(defs, key, s.role, pumpId);
  check(c.role === s.role, s.name + ": role");
  check(toHex(c.hello(fromHex(s.nonce_c))) === s.hello, s.name + ": hello");
  let confirm = null;
  try {
    confirm = await c.confirm(fromHex(s.challenge));
  } catch (e) {
    failures.push(s.name + ": challenge refused: " + e.message);
    continue;
  }
  check(toHex(confirm) === s.confirm, s.name + ": confirm");
  await c.established(fromHex(s.result));
  for (const m of s.sealed) {
    if (m.direction === "c2p") {
      const sealed = await c.seal(m.stream, fromHex(m.payload));
      check(toHex(sealed) === m.sealed, s.name + ": seal " + m.what);
      check(JSON.stringify(split(defs, sealed, m.e2e, vectors.frame_size).map(toHex)) === JSON.stringify(m.frames),
        s.name + ": frames of " + m.what);
    } else {
      let plain = null;
      try {
        plain = await c.open(m.stream, fromHex(m.sealed));
      } catch (e) {
        plain = e.message;
      }
      check(plain instanceof Uint8Array && toHex(plain) === m.payload, s.name + ": open " + m.what);
    }
  }
  const seqs = JSON.stringify(c.rx.seqs);
  for (const r of s.refused.filter((x) => x.direction === "p2c")) {
    check(await code(c.open(r.stream, fromHex(r.sealed))) === r.code, s.name + ": refused (" + r.why + ")");
    check(JSON.stringify(c.rx.seqs) === seqs, s.name + ": counters after " + r.why);
  }
}
// a central told the pump refused a handshake step raises the pump's code
for (const r of vectors.handshake_refusals) {
  const c = new MonitorSession(defs, fromHex(vectors.keys.monitor));
  c.hello(new Uint8Array(16));
  check(await code(c.confirm(fromHex(r.reply))) === r.code, "handshake refusal: " + r.why);
}
// another pump's challenge, and a forged proof
const mon = vectors.sessions.find((s) => s.key === "monitor");
const other = new MonitorSession(defs, fromHex(vectors.keys.monitor), Uint8Array.of(1, 2, 3, 4, 5, 6));
other.hello(fromHex(mon.nonce_c));
check(await code(other.confirm(fromHex(mon.challenge))) === defs.session.codes.auth, "challenge from another pump");
const forged = fromHex(mon.challenge);
forged[forged.length - 1] ^= 1;
const c2 = new MonitorSession(defs, fromHex(vectors.keys.monitor), pumpId);
c2.hello(fromHex(mon.nonce_c));
check(await code(c2.confirm(forged)) === defs.session.codes.auth, "a forged pump proof");
check(await code(c2.open(defs.session.streams.status, fromHex(mon.sealed[0].sealed))) === defs.session.codes.insecure,
  "nothing opened before the session");
// the same message opened twice at once: one is taken, the other is a replay
const c3 = new MonitorSession(defs, fromHex(vectors.keys.monitor), pumpId);
c3.hello(fromHex(mon.nonce_c));
await c3.confirm(fromHex(mon.challenge));
await c3.established(fromHex(mon.result));
const first = mon.sealed.find((m) => m.direction === "p2c");
const twice = await Promise.all([code(c3.open(first.stream, fromHex(first.sealed))),
  code(c3.open(first.stream, fromHex(first.sealed)))]);
check(JSON.stringify(twice.sort()) === JSON.stringify([0, defs.session.codes.replay]), "one message opened twice at once");
// the key file: the monitor's key alone
const good = JSON.stringify({ monitor: vectors.keys.monitor });
check(toHex(parseMonitorKey(good)) === vectors.keys.monitor, "monitor key file");
for (const [text, why] of [[JSON.stringify(vectors.keys), "also holds"], ["{", "not a JSON file"],
  [JSON.stringify({ monitor: "ab" }), "64 hex digits"], ["[1]", "JSON object"]]) {
  let msg = "";
  try {
    parseMonitorKey(text);
  } catch (e) {
    msg = e.message;
  }
  check(msg.includes(why), "monitor key file refused: " + why);
}
for (const f of failures) console.log("FAIL " + f);
console.log(checks + " checks, " + failures.length + " failed");
process.exit(failures.length ? 1 : 0);
