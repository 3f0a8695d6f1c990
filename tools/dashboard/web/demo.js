// The demo mode: a device that plays demo.json (frames the firmware's BLE service sent while serving a simulated
// pump, tools/dashboard/demo.py) through the same Web Bluetooth calls the page makes to a real pump, so every
// recorded frame takes the live path (frames.js decode, then the status, alarm, chart and history views).
// The session's pump time is compressed into `seconds` of playback. Nothing the page writes goes anywhere.

export function recordedDevice(defs, rec, seconds) {
  const hex = (h) => Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
  const view = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nameOf = {};
  for (const [name, uuid] of Object.entries(defs.uuids)) nameOf[uuid] = name;
  const chars = {};
  const last = rec.updates.length ? rec.updates[rec.updates.length - 1][0] : 0;
  const msPerMs = seconds * 1000 / Math.max(last, 1);  // playback ms per ms of pump time
  let timer = null;
  let next = 0;
  let started = null;

  class Characteristic extends EventTarget {
    constructor(name) {
      super();
      this.name = name;
      this.value = null;
      this.notifying = false;
    }
    async readValue() {
      if (!(this.name in rec.reads)) throw new DOMException("read not permitted", "NotSupportedError");
      this.value = view(hex(rec.reads[this.name]));
      return this.value;
    }
    async startNotifications() {
      this.notifying = true;
      if (timer === null && started === null) {  // the first subscription starts the clock; the rest follow at once
        started = performance.now();
        timer = setInterval(play, 50);
      }
      return this;
    }
    async writeValueWithResponse() {}  // a recording answers nothing: the page's history request goes nowhere
  }

  function play() {
    const due = (performance.now() - started) / msPerMs;
    while (next < rec.updates.length && rec.updates[next][0] <= due) {
      const [, name, frame] = rec.updates[next++];
      const c = chars[name];
      if (!c || !c.notifying) continue;
      c.value = view(hex(frame));
      c.dispatchEvent(new Event("characteristicvaluechanged"));
    }
    if (next >= rec.updates.length) stopTimer();
  }

  function stopTimer() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  const server = {
    connected: true,
    async getPrimaryService(uuid) {
      if (uuid !== defs.uuids.service) throw new DOMException("no such service", "NotFoundError");
      return {
        async getCharacteristic(u) {
          const name = nameOf[u];
          chars[name] = chars[name] || new Characteristic(name);
          return chars[name];
        },
      };
    },
  };
  const device = Object.assign(new EventTarget(), {
    name: rec.name + " (recorded)",
    gatt: { connected: false, async connect() { this.connected = true; return server; } },
    // the end of the demo: no frame after it, and the page hears a disconnection as from a pump
    stop() {
      stopTimer();
      next = rec.updates.length;
      this.gatt.connected = false;
      this.dispatchEvent(new Event("gattserverdisconnected"));
    },
    get playing() { return timer !== null; },
  });
  return device;
}
