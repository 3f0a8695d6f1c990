// Init script: a browser without Web Bluetooth (whatever this Chromium build offers).
Object.defineProperty(navigator, "bluetooth", { value: undefined });
