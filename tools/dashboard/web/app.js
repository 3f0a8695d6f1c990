// Pump dashboard: connects over Web Bluetooth, shows status, alarms, live charts and history as the pump sends them.
// Read-only: commands need the clinician's key and go through the programmer (python -m tools.programmer).
// Status, alarms and history come sealed in the pump's secure session (session.js): the page opens it with the
// monitor key the user loads (python -m tools.keys --monitor-out), held in the page's memory only; without one it
// shows the pump's features and nothing else.
// The demo mode plays a recorded session (demo.json, demo.js: the frames as decoded, no session) through the same
// views, clearly labelled.
// window.dashboard is the page's state (the tests read it).
import {
  Reassembler, decodeAlarm, decodeFeatures, decodeRacp, decodeRecord, decodeStatus, describeRecord, racpRequest, split,
  unframe, dateOfDay, timeOfSeconds,
} from "./frames.js";
import { Series, drawChart } from "./chart.js";
import { recordedDevice } from "./demo.js";
import { MonitorSession, parseMonitorKey } from "./session.js";

export function bluetoothSupport(nav) {
  if (!nav || !nav.bluetooth || typeof nav.bluetooth.requestDevice !== "function") {
    const agent = (nav && nav.userAgent) || "";
    if (/Linux/.test(agent) && !/Android/.test(agent) && /Chrom/.test(agent)) {  // Chromium keeps it behind a flag
      return { ok: false, text: "Chromium on Linux has Web Bluetooth behind a flag: enable "
        + "chrome://flags/#enable-experimental-web-platform-features (or start it with "
        + "--enable-experimental-web-platform-features), then reload this page." };
    }
    return { ok: false, text: "This browser has no Web Bluetooth: use Chrome or Edge on a desktop or on Android." };
  }
  return { ok: true, text: "Web Bluetooth available: connect to a pump in range." };
}

const CHART_POINTS = 600;  // per chart, over the whole session (chart.js halves the resolution when full)
const DEMO_S = 30;  // the whole recorded session in this many seconds (?demo_s=N: 1 to 600)
const state = {
  ready: false, bluetooth: false, connected: false, demo: false, device: null, features: null, status: null,
  alarm: null, history: [], racp: [], errors: [], statuses: 0, drawn: 0, key: false, session: "none", refused: 0,
  series: { reservoir_ul: new Series(CHART_POINTS), pressure_kpa: new Series(CHART_POINTS) },
};
window.dashboard = state;
let defs = null;
let monitorKey = null;  // the monitor's 32 bytes: in this variable only, never stored
const $ = (id) => document.getElementById(id);
const ul = (nl) => (nl / 1000).toFixed(1) + " µL";

function renderStatus(s) {
  $("mode").textContent = (s.mode_name || "no program") + ", " + s.state_name;
  $("rate").textContent = (s.rate_nl_per_day / 1000).toFixed(1) + " µL/day";
  $("today").textContent = ul(s.today_nl);
  $("total").textContent = s.total_ul + " µL";
  const cap = state.features ? " of " + state.features.reservoir_ul + " µL" : "";
  $("reservoir").textContent = ul(s.reservoir_nl) + cap;
  $("refill").textContent = s.empty_day === null ? "never" : dateOfDay(s.empty_day);
  $("battery").textContent = (s.battery_pct === null ? "not read yet" : s.battery_pct + " %")
    + (s.eri_day === null || s.eri_day === undefined ? "" : ", replace by " + dateOfDay(s.eri_day));
  $("pressure").textContent = s.pressure_kpa_x10 === null ? "no sensor" : (s.pressure_kpa_x10 / 10).toFixed(1) + " kPa";
  // a pump whose clock was never set (or was lost) says so: its time is not shown as if it were true
  $("clock").textContent = s.clock_unset ? "NOT SET (set the pump's clock)" : timeOfSeconds(s.t_s);
}

let drawPending = false;

// Every status adds to the charts; they are drawn at most once per animation frame (a burst of notifications
// after a reconnection costs one drawing).
function chartStatus(s) {
  state.statuses += 1;
  state.series.reservoir_ul.push(s.t_s, s.reservoir_nl / 1000);
  state.series.pressure_kpa.push(s.t_s, s.pressure_kpa_x10 === null ? null : s.pressure_kpa_x10 / 10);
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    drawChart($("reservoir-chart"), state.series.reservoir_ul, "µL", 0, timeOfSeconds);
    drawChart($("pressure-chart"), state.series.pressure_kpa, "kPa", 1, timeOfSeconds);
    state.drawn = state.statuses;
  });
}

function onStatus(s) {
  state.status = s;
  renderStatus(s);
  chartStatus(s);
}

function renderAlarm(a) {
  const panel = $("alarm-panel");
  const prio = defs.priorities[String(a.priority)] || "idle";
  panel.className = a.code ? prio : "idle";
  $("alarm").textContent = a.code
    ? defs.alarms[String(a.code)].text + " (" + prio + ", since " + timeOfSeconds(a.since_s) + ")"
    + (a.sounding ? "" : ", silenced or acknowledged")
    : "none";
  $("alarm-list").textContent = a.alarms.length > 1
    ? "also active: " + a.alarms.filter((c) => c !== a.code).map((c) => defs.alarms[String(c)].text).join(", ")
    : "";
}

function renderRecord(r) {
  const row = document.createElement("tr");
  for (const text of [r.seq, timeOfSeconds(r.t_s), r.text, describeRecord(defs, r)]) {
    const td = document.createElement("td");
    td.textContent = String(text);
    row.appendChild(td);
  }
  $("history").tBodies[0].prepend(row);  // newest first
}

// `open(name, message)`: the payload of a message as the pump sent it (opened from its seal in a session, or as
// recorded in the demo); a message that fails its seal is counted in state.refused and shown nowhere.
function listen(characteristic, name, open, decode, onMessage) {
  const rx = new Reassembler(defs);
  characteristic.addEventListener("characteristicvaluechanged", (event) => {
    let message = null;
    try {
      message = rx.feed(event.target.value);
    } catch (e) {
      state.errors.push(String(e));
    }
    if (message === null) return;
    open(name, message).then((payload) => { if (payload !== null) onMessage(decode(payload)); }, (e) => {
      state.refused += 1;
      state.errors.push(String(e));
    });
  });
}

// The handshake over the Session characteristic: each message framed, the pump's answer indicated.
async function openSession(service) {
  const u = defs.session;
  const ch = await service.getCharacteristic(u.uuid);
  const session = new MonitorSession(defs, monitorKey);
  const answers = [];
  let wake = null;
  const rx = new Reassembler(defs, 64);
  ch.addEventListener("characteristicvaluechanged", (event) => {
    const message = rx.feed(event.target.value);
    if (message !== null) {
      answers.push(message);
      if (wake) wake();
    }
  });
  await ch.startNotifications();
  let e2e = 0;
  const exchange = async (message) => {
    e2e = (e2e + 1) & 0xff;
    for (const frame of split(defs, message, e2e)) await ch.writeValueWithResponse(frame);
    while (!answers.length) await new Promise((resolve) => { wake = resolve; });
    return answers.shift();
  };
  const challenge = await exchange(session.hello());
  await session.established(await exchange(await session.confirm(challenge)));
  return session;
}

// A pump from the browser's chooser, or the demo's recorded device (`recorded`: its frames carry no seal): the same
// calls, the same views.
async function connect(device, recorded = false) {
  const u = defs.uuids;
  device.addEventListener("gattserverdisconnected", () => {
    state.connected = false;
    $("device").textContent = device.name + ": disconnected";
    if (!state.demo) $("demo").disabled = false;  // a pump gone: the demo may play (it clears the pump's values)
  });
  const server = await device.gatt.connect();
  const service = await server.getPrimaryService(u.service);
  const ch = {};
  for (const name of ["status", "alarm", "features", "history", "racp"]) ch[name] = await service.getCharacteristic(u[name]);
  state.device = device.name;
  state.connected = true;
  state.features = decodeFeatures(defs, unframe(defs, await ch.features.readValue()));
  const f = state.features;
  $("device").textContent = device.name + ": " + f.nl_per_step + " nL/step, reservoir " + f.reservoir_ul + " µL"
    + (f.pressure_sensor ? ", pressure sensor" : ", no pressure sensor") + (f.keys ? "" : ", no command keys");
  let open = async (_name, message) => message;
  let seal = async (_name, message) => message;
  if (!recorded) {
    if (monitorKey === null) {  // the pump sends nothing readable without a session: say why nothing shows
      state.session = "no key";
      $("session").textContent = "No monitor key loaded: status, alarms and history stay sealed. Load the file "
        + "python -m tools.keys --monitor-out writes, then connect again.";
      return;
    }
    state.session = "opening";
    let session;
    try {
      session = await openSession(service);
    } catch (e) {
      state.session = "refused";
      $("session").textContent = "Secure session refused: " + e.message
        + (e.code === defs.session.codes.auth ? " (is this monitor key this pump's?)" : "");
      throw e;
    }
    state.session = "open";
    $("session").textContent = "Secure session open (monitor: read-only).";
    const streams = defs.session.streams;
    const last = {};  // per characteristic, the last sealed message opened
    // the value read at connection is also notified: the same sealed message again is the one already shown (null)
    open = async (name, message) => {
      const prev = last[name];
      if (prev && prev.length === message.length && prev.every((b, i) => b === message[i])) return null;
      const payload = await session.open(streams[name], message);
      last[name] = message;
      return payload;
    };
    seal = (name, message) => session.seal(streams[name], message);
  }
  onStatus(decodeStatus(defs, await open("status", unframe(defs, await ch.status.readValue()))));
  listen(ch.status, "status", open, (p) => decodeStatus(defs, p), onStatus);
  listen(ch.alarm, "alarm", open, (p) => decodeAlarm(defs, p), (a) => { state.alarm = a; renderAlarm(a); });
  listen(ch.history, "history", open, (p) => decodeRecord(defs, p), (r) => { state.history.push(r); renderRecord(r); });
  listen(ch.racp, "racp", open, (p) => decodeRacp(defs, p), (r) => { state.racp.push(r); });
  for (const name of ["status", "alarm", "history", "racp"]) await ch[name].startNotifications();
  // the whole event log, oldest first (the RACP request is sealed and framed like every other message)
  const request = await seal("racp", racpRequest(defs, defs.racp.report, defs.racp.all));
  for (const frame of split(defs, request, 1)) await ch.racp.writeValueWithResponse(frame);
}

// The monitor key from the file the user picks: checked (a file with a command key is refused), kept in memory.
async function loadKey(file) {
  try {
    monitorKey = parseMonitorKey(await file.text());
    state.key = true;
    $("key-status").textContent = "Monitor key loaded (kept in this page only).";
  } catch (e) {
    monitorKey = null;
    state.key = false;
    state.errors.push(String(e));
    $("key-status").textContent = e.message;
  }
}

function requestPump() {
  const u = defs.uuids;
  return navigator.bluetooth.requestDevice({
    filters: [{ namePrefix: "PUMP-" }], optionalServices: [u.service, u.battery_service],
  });
}

// Back to the page as loaded: nothing of a stopped demo may stay on screen looking like a pump's values.
function clearView() {
  for (const id of ["mode", "rate", "today", "total", "reservoir", "refill", "battery", "pressure", "clock", "alarm"]) {
    $(id).textContent = "–";
  }
  $("alarm-list").textContent = "";
  $("alarm-panel").className = "idle";
  $("history").tBodies[0].replaceChildren();
  $("session").textContent = "";
  Object.assign(state, { connected: false, device: null, features: null, status: null, alarm: null, history: [],
    racp: [], statuses: 0, drawn: 0, session: "none", refused: 0,
    series: { reservoir_ul: new Series(CHART_POINTS), pressure_kpa: new Series(CHART_POINTS) } });
  drawChart($("reservoir-chart"), state.series.reservoir_ul, "µL", 0, timeOfSeconds);
  drawChart($("pressure-chart"), state.series.pressure_kpa, "kPa", 1, timeOfSeconds);
}

let demoDevice = null;

function demoSeconds() {
  const n = Number(new URLSearchParams(location.search).get("demo_s"));
  return Number.isInteger(n) && n >= 1 && n <= 600 ? n : DEMO_S;
}

async function startDemo() {
  $("demo").disabled = true;  // until the recording is connected: a stop before would race the connection
  $("connect").disabled = true;
  clearView();
  state.demo = true;
  $("demo-label").hidden = false;
  const rec = await (await fetch("demo.json")).json();
  demoDevice = recordedDevice(defs, rec, demoSeconds());
  await connect(demoDevice, true);
  $("demo").textContent = "Stop the demo";
  $("demo").disabled = false;
}

function stopDemo() {
  if (demoDevice) demoDevice.stop();
  demoDevice = null;
  clearView();
  state.demo = false;
  $("demo-label").hidden = true;
  $("demo").textContent = "Demo (recorded session)";
  $("demo").disabled = false;
  $("connect").disabled = !state.bluetooth;
  $("device").textContent = "demo stopped";
}

async function start() {
  defs = await (await fetch("pumpdefs.json")).json();
  const support = bluetoothSupport(navigator);
  const status = $("support");
  const button = $("connect");
  status.textContent = support.text;
  status.classList.toggle("missing", !support.ok);
  button.disabled = !support.ok;
  state.bluetooth = support.ok;
  button.addEventListener("click", () => {
    requestPump().then((device) => {
      $("demo").disabled = true;  // a pump's values never mix with a recording's
      return connect(device);
    }).catch((e) => {
      state.errors.push(String(e));
      $("device").textContent = "not connected: " + e.message;
      $("demo").disabled = state.connected;
    });
  });
  $("key-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";  // the file input forgets it: the key lives in monitorKey only
    if (file) loadKey(file);
  });
  $("demo").addEventListener("click", () => {
    if (state.demo) {
      stopDemo();
      return;
    }
    startDemo().catch((e) => {
      state.errors.push(String(e));
      stopDemo();
      $("device").textContent = "demo not started: " + e.message;
    });
  });
  state.ready = true;
}

start();
