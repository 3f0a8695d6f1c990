// Init script: navigator.bluetooth replaced by a pump that plays frames recorded from the simulator
// (host_tests/support/webrecord.py, in window.__recording). Notifications reach subscribed characteristics in the
// recorded order: those sent before the history request once status and alarm are subscribed, the rest once the
// page has written the whole RACP request. What the page asked for is kept in window.__fakeBluetooth.
// A sealed recording (rec.session) also answers the handshake on the Session characteristic: each message the page
// writes there is answered with the recorded one; the page's nonce is the recording's (crypto.getRandomValues gives
// it once, for the HELLO), since the recorded seals depend on it.
(() => {
  const rec = window.__recording;
  const hex = (h) => Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
  if (rec.session) {
    const nonce = hex(rec.session.nonce_c);
    const random = crypto.getRandomValues.bind(crypto);
    let pinned = false;
    crypto.getRandomValues = (array) => {
      if (!pinned && array.length === nonce.length) {
        pinned = true;
        array.set(nonce);
        return array;
      }
      return random(array);
    };
  }
  const view = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const log = { requests: [], reads: [], writes: [], subscribed: [] };
  window.__fakeBluetooth = log;
  const racpUuid = rec.racp_uuid;
  const historyUuids = [rec.history_uuid, racpUuid];
  const split = rec.updates.findIndex(([uuid]) => historyUuids.includes(uuid));
  const live = split < 0 ? rec.updates : rec.updates.slice(0, split);
  const history = split < 0 ? [] : rec.updates.slice(split);
  const chars = {};

  class Characteristic extends EventTarget {
    constructor(uuid) {
      super();
      this.uuid = uuid;
      this.value = null;
      this.notifying = false;
    }
    async readValue() {
      log.reads.push(this.uuid);
      if (!(this.uuid in rec.reads)) throw new DOMException("read not permitted", "NotSupportedError");
      this.value = view(hex(rec.reads[this.uuid]));
      return this.value;
    }
    async startNotifications() {
      this.notifying = true;
      log.subscribed.push(this.uuid);
      maybePlay();
      return this;
    }
    async writeValueWithResponse(data) {
      const bytes = new Uint8Array(data.buffer ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data);
      log.writes.push([this.uuid, Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")]);
      if (rec.session && this.uuid === rec.session.uuid) {
        const written = log.writes.filter(([u]) => u === this.uuid).length;
        let frames = 0;
        rec.session.writes.forEach((message, i) => {
          frames += message.length;
          if (written === frames) setTimeout(() => play(rec.session.answers[i].map((f) => [this.uuid, f])), 0);
        });
      }
      const racpWrites = log.writes.filter(([u]) => u === racpUuid).length;
      if (this.uuid === racpUuid && racpWrites === rec.racp_request.length) play(history);
    }
  }

  let playedLive = false;
  function maybePlay() {
    const on = (u) => chars[u] && chars[u].notifying;
    if (!playedLive && on(rec.status_uuid) && on(rec.alarm_uuid)) {
      playedLive = true;
      play(live);
    }
  }

  function play(updates) {
    for (const [uuid, frame] of updates) {
      const c = chars[uuid];
      if (!c || !c.notifying) continue;
      c.value = view(hex(frame));
      c.dispatchEvent(new Event("characteristicvaluechanged"));
    }
  }

  const server = {
    connected: true,
    async getPrimaryService(uuid) {
      if (uuid !== rec.service_uuid) throw new DOMException("no such service", "NotFoundError");
      return {
        async getCharacteristic(u) {
          chars[u] = chars[u] || new Characteristic(u);
          return chars[u];
        },
      };
    },
  };
  const device = Object.assign(new EventTarget(), {
    name: rec.name, id: "fake-" + rec.name, gatt: { connected: false, async connect() { this.connected = true; return server; } },
  });
  Object.defineProperty(navigator, "bluetooth", {
    value: { async requestDevice(options) { log.requests.push(options); return device; } },
  });
})();
