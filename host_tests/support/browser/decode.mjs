// Decodes a recording (host_tests/support/webrecord.py) with tools/dashboard/web/frames.js and prints the result as
// JSON, in the shape of record.expected(): the Python side compares the two.
//
//   node host_tests/support/browser/decode.mjs RECORDING.json
import { readFileSync } from "node:fs";
import {
  Reassembler, decodeAlarm, decodeFeatures, decodeRacp, decodeRecord, decodeStatus, unframe,
} from "../../../tools/dashboard/web/frames.js";

const defs = JSON.parse(readFileSync(new URL("../../../tools/dashboard/web/pumpdefs.json", import.meta.url)));
const rec = JSON.parse(readFileSync(process.argv[2]));
const hex = (h) => Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
const u = defs.uuids;
const out = {
  features: decodeFeatures(defs, unframe(defs, hex(rec.reads[u.features]))),
  status_read: decodeStatus(defs, unframe(defs, hex(rec.reads[u.status]))),
  status: [], alarm: [], history: [], racp: [],
};
const decoders = { [u.status]: ["status", decodeStatus], [u.alarm]: ["alarm", decodeAlarm],
  [u.history]: ["history", decodeRecord], [u.racp]: ["racp", decodeRacp] };
const rx = {};
for (const [uuid, frame] of rec.updates) {
  rx[uuid] = rx[uuid] || new Reassembler(defs);
  const payload = rx[uuid].feed(hex(frame));
  if (payload !== null) {
    const [key, decode] = decoders[uuid];
    out[key].push(decode(defs, payload));
  }
}
console.log(JSON.stringify(out));
