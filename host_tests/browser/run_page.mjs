// Opens a page in headless Chromium (Debian's, not a downloaded one) with playwright-core and prints its state.
//
//   node host_tests/browser/run_page.mjs URL SCREENSHOT.png [INIT_SCRIPT.js]
//
// INIT_SCRIPT runs in the page before its own scripts (e.g. a fake navigator.bluetooth). Waits for
// window.dashboard.ready, then prints one JSON line: {"state": window.dashboard, "errors": [...], "console": [...]}.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, screenshot, initScript] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const userDataDir = mkdtempSync(join(tmpdir(), "pump-chromium-"));  // fresh profile every run
const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const errors = [];
const console_ = [];
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath, headless: true, args: flags, viewport: { width: 480, height: 640 },
  });
  const page = context.pages()[0] || await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => console_.push(m.type() + ": " + m.text()));
  if (initScript) {
    await page.addInitScript({ content: readFileSync(initScript, "utf8") });
  }
  await page.goto(url);
  await page.waitForFunction(() => window.dashboard && window.dashboard.ready, null, { timeout: 10000 });
  const state = await page.evaluate(() => ({
    ...window.dashboard,
    support: document.getElementById("support").textContent,
    connectEnabled: !document.getElementById("connect").disabled,
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ state, errors, console: console_ }));
} finally {
  if (context) await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
