// tools/dashboard/web/frames.js against the protocol's test vectors (host_tests/support/vectors/ble_frames.json, made by
// verify/ble_vectors.py from the firmware): CRC-16, framing, reassembly, every decoder the dashboard uses, RACP
// requests, and the frames a pump refuses. Prints one line per failure and exits 1 if any; else "N checks passed".
//
// The HMAC and command-response vectors are for senders of commands; the dashboard sends none.
import { readFileSync } from "node:fs";
import {
  FrameError, Reassembler, crc16, decodeAlarm, decodeFeatures, decodeRacp, decodeRecord, decodeStatus, racpRequest,
  split,
} from "../../../tools/dashboard/web/frames.js";

const defs = JSON.parse(readFileSync(new URL("../../../tools/dashboard/web/pumpdefs.json", import.meta.url)));
const vectors = JSON.parse(readFileSync(process.argv[2] || new URL("../vectors/ble_frames.json", import.meta.url)));
const hex = (h) => Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const same = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
const sorted = (v) => (v && typeof v === "object" && !Array.isArray(v)
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v);
let checks = 0;
const failures = [];
function check(ok, what) {
  checks++;
  if (!ok) failures.push(what);
}

if (vectors.format !== 1) failures.push("vectors format " + vectors.format);
for (const v of vectors.crc16) check(crc16(hex(v.data)) === v.crc, "crc16 of " + v.data);

const decoders = {
  status: (p) => decodeStatus(defs, p), alarm: (p) => decodeAlarm(defs, p), history: (p) => decodeRecord(defs, p),
  features: (p) => decodeFeatures(defs, p),
};
for (const m of vectors.messages) {
  const payload = hex(m.payload);
  check(JSON.stringify(split(defs, payload, m.e2e, m.frame_size).map(toHex)) === JSON.stringify(m.frames),
    m.name + ": framing");
  const rx = new Reassembler(defs);
  let got = null;
  m.frames.forEach((f, i) => {
    const out = rx.feed(hex(f));
    check((out !== null) === (i === m.frames.length - 1), m.name + ": frame " + i + " completes only the last");
    if (out !== null) got = out;
  });
  check(got !== null && toHex(got) === m.payload, m.name + ": reassembled payload");
  if (m.characteristic in decoders) {
    check(same(decoders[m.characteristic](payload), m.decoded), m.name + ": decoded");
  } else if (m.characteristic === "racp" && "op" in m.decoded) {
    const d = m.decoded;
    check(toHex(racpRequest(defs, d.op, d.operator, d.first || 0, d.last || 0)) === m.payload, m.name + ": request");
  } else if (m.characteristic === "racp") {
    check(same(decodeRacp(defs, payload), m.decoded), m.name + ": decoded");
  }
}
for (const c of vectors.commands) {
  check(JSON.stringify(split(defs, hex(c.payload), c.e2e, c.frame_size).map(toHex)) === JSON.stringify(c.frames),
    c.name + ": framing");
}
for (const r of vectors.refused_frames) {
  let reason = null;
  try {
    new Reassembler(defs).feed(hex(r.frame));
  } catch (e) {
    reason = e instanceof FrameError ? e.reason : String(e);
  }
  check(reason === r.reason, "refused frame " + r.frame + ": " + reason + ", expected " + r.reason);
}
for (const f of failures) console.log("FAIL " + f);
console.log(checks + " checks, " + failures.length + " failed");
process.exit(failures.length ? 1 : 0);
