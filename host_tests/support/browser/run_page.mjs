// Opens a page in headless Chromium (Debian's, not a downloaded one) with playwright-core and prints its state.
//
//   node host_tests/support/browser/run_page.mjs URL SCREENSHOT.png [--init FILE.js]...
//                                                [--click SELECTOR | --wait JS | --file SELECTOR=PATH]...
//
// Each --init script runs in the page before its own scripts (e.g. a fake navigator.bluetooth). Waits for
// window.dashboard.ready, then clicks, file choices (PATH set on the file input SELECTOR, as the user picks it) and
// waits in the order given (a wait: until the expression JS is true, then a
// snapshot of the page and a screenshot NAME-<n>.png), then prints one JSON line: {"state": window.dashboard, "dom": {id: text of each element with
// an id}, "fake": window.__fakeBluetooth, "steps": [{"state", "dom"} at each wait], "errors": [...], "console": [...]}.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, screenshot, ...rest] = process.argv.slice(2);
const inits = [];
const actions = [];
for (let i = 0; i < rest.length; i += 2) {
  if (rest[i] === "--init") inits.push(rest[i + 1]);
  else if (["--click", "--wait", "--file"].includes(rest[i])) actions.push([rest[i], rest[i + 1]]);
  else throw new Error("unknown option " + rest[i]);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const userDataDir = mkdtempSync(join(tmpdir(), "pump-chromium-"));  // fresh profile every run
const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const errors = [];
const messages = [];
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath, headless: true, args: flags, viewport: { width: 480, height: 800 },
  });
  const page = context.pages()[0] || await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => messages.push(m.type() + ": " + m.text()));
  for (const file of inits) await page.addInitScript({ content: readFileSync(file, "utf8") });
  await page.goto(url);
  await page.waitForFunction(() => window.dashboard && window.dashboard.ready, null, { timeout: 10000 });
  const snapshot = () => page.evaluate(() => {
    const dom = {};
    for (const el of document.querySelectorAll("[id]")) dom[el.id] = el.textContent;
    dom.connectEnabled = !document.getElementById("connect").disabled;
    dom.alarmClass = document.getElementById("alarm-panel").className;
    dom.historyRows = document.querySelectorAll("#history tbody tr").length;
    dom.chartPoints = {};
    for (const fig of document.querySelectorAll("figure.chart")) {
      const line = fig.querySelector("polyline");
      dom.chartPoints[fig.id] = line ? line.points.numberOfItems : 0;
    }
    const label = document.getElementById("demo-label");
    dom.demoLabelShown = Boolean(label) && !label.hidden && label.getClientRects().length > 0;
    return { state: JSON.parse(JSON.stringify(window.dashboard)), dom, fake: window.__fakeBluetooth || null };
  });
  const steps = [];
  for (const [what, arg] of actions) {
    if (what === "--click") await page.click(arg);
    else if (what === "--file") {
      const at = arg.indexOf("=");
      await page.setInputFiles(arg.slice(0, at), arg.slice(at + 1));
    } else {
      await page.waitForFunction(arg, null, { timeout: 15000 });
      steps.push(await snapshot());
      await page.screenshot({ path: screenshot.replace(/\.png$/, "-" + steps.length + ".png"), fullPage: true });
    }
  }
  const result = { ...(await snapshot()), steps };
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ...result, errors, console: messages }));
} finally {
  if (context) await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
