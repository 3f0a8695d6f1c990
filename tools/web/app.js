// Pump dashboard entry: checks for Web Bluetooth and wires the page; window.dashboard is its state for tests.

export function bluetoothSupport(nav) {
  if (!nav || !nav.bluetooth || typeof nav.bluetooth.requestDevice !== "function") {
    return { ok: false, text: "This browser has no Web Bluetooth: use Chrome or Edge on a desktop or on Android." };
  }
  return { ok: true, text: "Web Bluetooth available: connect to a pump in range." };
}

function start() {
  const support = bluetoothSupport(navigator);
  const status = document.getElementById("support");
  const button = document.getElementById("connect");
  status.textContent = support.text;
  status.classList.toggle("missing", !support.ok);
  button.disabled = !support.ok;
  window.dashboard = { ready: true, bluetooth: support.ok };
}

start();
