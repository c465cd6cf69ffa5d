// Drives headless Chromium over the DevTools protocol for the dashboard test, with no npm
// package: Node's own WebSocket (node --experimental-websocket on Node 20, built in from 22).
//
//   node --experimental-websocket browse.mjs CHROMIUM URL SECONDS SCREENSHOT.png
//
// Opens URL in a 1400 px wide window and lets it run in real time for SECONDS. Each time the
// page's #state element shows a new data-taken-at (a refresh that drew a new snapshot), prints
// one JSON line {"taken_at": "...", "html": "..."}; at the end prints {"final": "..."} with the
// DOM as it is then, and saves a full-page screenshot. Exits non-zero on any failure.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [chromiumPath, url, seconds, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: browse.mjs CHROMIUM URL SECONDS SCREENSHOT.png");
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), "carbonaut-browse-"));
const chromium = spawn(chromiumPath, [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--hide-scrollbars", `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank",
], { stdio: ["ignore", "ignore", "pipe"] });

async function cleanup() {
  if (chromium.exitCode === null && chromium.signalCode === null) {
    const exited = new Promise((resolve) => chromium.once("exit", resolve));
    chromium.kill("SIGKILL");
    await exited;
  }
  rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}
async function fail(message) {
  console.error(`browse.mjs: ${message}`);
  await cleanup();
  process.exit(1);
}
setTimeout(() => fail("gave up after the time budget plus 60 s"), (Number(seconds) + 60) * 1000).unref();

const endpoint = await new Promise((resolve, reject) => {
  let seen = "";
  chromium.stderr.on("data", (chunk) => {
    seen += chunk;
    const m = seen.match(/DevTools listening on (ws:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  chromium.once("exit", (code) => reject(new Error(`chromium exited (${code}) before listening: ${seen}`)));
}).catch((e) => fail(e.message));

const ws = new WebSocket(endpoint);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = () => reject(new Error(`cannot connect to ${endpoint}`));
}).catch((e) => fail(e.message));

let nextId = 1;
const pending = new Map();
ws.onmessage = (event) => {
  const msg = JSON.parse(event.data);
  if (msg.id && pending.has(msg.id)) {
    const { resolve, reject } = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) reject(new Error(JSON.stringify(msg.error)));
    else resolve(msg.result);
  }
};
function send(method, params = {}, sessionId) {
  const id = nextId++;
  ws.send(JSON.stringify({ id, method, params, sessionId }));
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

try {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  const page = (method, params) => send(method, params, sessionId);
  const evaluate = async (expression) =>
    (await page("Runtime.evaluate", { expression, returnByValue: true })).result.value;
  await page("Page.enable");
  await page("Emulation.setDeviceMetricsOverride", { width: 1400, height: 1000, deviceScaleFactor: 1, mobile: false });
  await page("Page.navigate", { url });

  const until = Date.now() + Number(seconds) * 1000;
  let last = "";
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    const taken = await evaluate("document.getElementById('state')?.dataset.takenAt ?? ''");
    if (taken && taken !== last) {
      last = taken;
      const html = await evaluate("document.documentElement.outerHTML");
      console.log(JSON.stringify({ taken_at: taken, html }));
    }
  }
  console.log(JSON.stringify({ final: await evaluate("document.documentElement.outerHTML") }));

  // The whole page, not just the window.
  const height = await evaluate("Math.ceil(document.documentElement.scrollHeight)");
  await page("Emulation.setDeviceMetricsOverride", { width: 1400, height, deviceScaleFactor: 1, mobile: false });
  await new Promise((r) => setTimeout(r, 300));
  const { data } = await page("Page.captureScreenshot", { format: "png" });
  writeFileSync(screenshot, Buffer.from(data, "base64"));
} catch (e) {
  fail(e.message);
}
ws.close();
await cleanup();
process.exit(0);
