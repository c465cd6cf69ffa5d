// Drives headless Chromium over the DevTools protocol for the dashboard test, with no npm
// package and any Node version: the protocol runs over a pipe (--remote-debugging-pipe: fd 3
// to Chromium, fd 4 from it, each message ended by NUL).
//
//   node browse.mjs CHROMIUM URL SECONDS SCREENSHOT.png [CANNED.json]
//
// Opens URL in a 1400 px wide window and lets it run in real time for SECONDS. Each time the
// page's #state element shows a new data-taken-at (a refresh that drew a new snapshot), prints
// one JSON line {"taken_at": "...", "html": "..."}; at the end prints {"final": "..."} with the
// DOM as it is then, and saves a full-page screenshot. Exits non-zero on any failure. Before
// that, each answer the page received from /api/v1/forecast or /api/v1/best-window is printed
// as {"served": URL, "status": N, "body": TEXT}: what the forecast section drew it from.
//
// CANNED.json holds answers given instead of the host's:
// - "report": {"account": ANSWER, "resource": ANSWER, ...}: every request the page makes to
//   /api/v1/report is answered by its group_by: how the page draws the report API's agreed
//   shape is tested on a host that has no report API yet;
// - "no_forecast": ["US", ...]: /api/v1/forecast answers 404 for these locations, as the host
//   does for a location its environment provider gives no forecast for.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [chromiumPath, url, seconds, screenshot, cannedFile] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: browse.mjs CHROMIUM URL SECONDS SCREENSHOT.png [CANNED.json]");
  process.exit(2);
}
const canned = cannedFile ? JSON.parse(readFileSync(cannedFile, "utf8")) : {};
const reports = canned.report ?? null;
const noForecast = canned.no_forecast ?? [];
const profile = mkdtempSync(join(tmpdir(), "carbonaut-browse-"));
const chromium = spawn(chromiumPath, [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--hide-scrollbars", `--user-data-dir=${profile}`, "--remote-debugging-pipe", "about:blank",
], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], detached: true });
const [toChromium, fromChromium] = [chromium.stdio[3], chromium.stdio[4]];
let chromiumSaid = "";
chromium.stderr.on("data", (chunk) => {
  chromiumSaid = (chromiumSaid + chunk).slice(-4000);
});

let finished = false;
const exited = new Promise((resolve) => chromium.once("exit", resolve));
async function cleanup() {
  finished = true;
  if (chromium.exitCode === null && chromium.signalCode === null) {
    // Browser.close lets every Chromium process end and flush the profile; a kill of the whole
    // process group if it does not within 5 s.
    send("Browser.close").catch(() => {});
    const closed = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
    if (!closed) {
      process.kill(-chromium.pid, "SIGKILL");
      await exited;
    }
  }
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  } catch (e) {
    console.error(`browse.mjs: left ${profile}: ${e.message}`);
  }
}
async function fail(message) {
  if (finished) return;
  console.error(`browse.mjs: ${message}`);
  await cleanup();
  process.exit(1);
}
chromium.once("exit", (code) => fail(`chromium exited (${code}): ${chromiumSaid}`));
setTimeout(() => fail("gave up after the time budget plus 60 s"), (Number(seconds) + 60) * 1000).unref();

let nextId = 1;
const pending = new Map();
function send(method, params = {}, sessionId) {
  const id = nextId++;
  toChromium.write(JSON.stringify({ id, method, params, sessionId }) + "\0");
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}
function fulfil(msg, code, body) {
  send("Fetch.fulfillRequest", {
    requestId: msg.params.requestId,
    responseCode: code,
    responseHeaders: [{ name: "Content-Type", value: "application/json" }],
    body: Buffer.from(JSON.stringify(body)).toString("base64"),
  }, msg.sessionId);
}
// The forecast section's answers, by request id, printed once each has been read in full.
const watched = new Map();
let printing = true;
function onMessage(msg) {
  if (msg.method === "Network.responseReceived") {
    const { requestId, response } = msg.params;
    if (/\/api\/v1\/(forecast|best-window)\?/.test(response.url)) {
      watched.set(requestId, { url: response.url, status: response.status });
    }
    return;
  }
  if (msg.method === "Network.loadingFinished" && watched.has(msg.params.requestId)) {
    const { url: served, status } = watched.get(msg.params.requestId);
    watched.delete(msg.params.requestId);
    send("Network.getResponseBody", { requestId: msg.params.requestId }, msg.sessionId)
      .then(({ body, base64Encoded }) => {
        const text = base64Encoded ? Buffer.from(body, "base64").toString("utf8") : body;
        if (printing) console.log(JSON.stringify({ served, status, body: text }));
      })
      .catch((e) => fail(`reading ${served}: ${e.message}`));
    return;
  }
  if (msg.method === "Fetch.requestPaused" && msg.params.request.url.includes("/api/v1/forecast?")) {
    const location = new URL(msg.params.request.url).searchParams.get("location");
    if (noForecast.includes(location)) {
      fulfil(msg, 404, { error: `no forecast for location \`${location}\` (canned by browse.mjs)` });
    } else {
      send("Fetch.continueRequest", { requestId: msg.params.requestId }, msg.sessionId);
    }
    return;
  }
  if (msg.method === "Fetch.requestPaused") {
    const group = new URL(msg.params.request.url).searchParams.get("group_by");
    const answer = reports[group];
    const body = answer === undefined ? { error: `no canned report for group_by=${group}` } : answer;
    fulfil(msg, answer === undefined ? 400 : 200, body);
    return;
  }
  if (msg.id && pending.has(msg.id)) {
    const { resolve, reject } = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) reject(new Error(JSON.stringify(msg.error)));
    else resolve(msg.result);
  }
}
let buffered = "";
fromChromium.setEncoding("utf8");
fromChromium.on("data", (chunk) => {
  buffered += chunk;
  let end;
  while ((end = buffered.indexOf("\0")) >= 0) {
    const text = buffered.slice(0, end);
    buffered = buffered.slice(end + 1);
    onMessage(JSON.parse(text));
  }
});

try {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  const page = (method, params) => send(method, params, sessionId);
  const evaluate = async (expression) =>
    (await page("Runtime.evaluate", { expression, returnByValue: true })).result.value;
  await page("Page.enable");
  await page("Network.enable");
  const patterns = [];
  if (reports) patterns.push({ urlPattern: "*/api/v1/report*" });
  if (noForecast.length) patterns.push({ urlPattern: "*/api/v1/forecast?*" });
  if (patterns.length) await page("Fetch.enable", { patterns });
  await page("Emulation.setDeviceMetricsOverride", { width: 1400, height: 1000, deviceScaleFactor: 1, mobile: false });
  await page("Page.navigate", { url });

  const until = Date.now() + Number(seconds) * 1000;
  let last = "";
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    // One evaluation reads both: the page may redraw between two of them, and its snapshot
    // time would then label a DOM drawn from the next snapshot.
    const [taken, html] = await evaluate(
      "[document.getElementById('state')?.dataset.takenAt ?? '', document.documentElement.outerHTML]",
    );
    if (taken && taken !== last) {
      last = taken;
      console.log(JSON.stringify({ taken_at: taken, html }));
    }
  }
  const final = await evaluate("document.documentElement.outerHTML");
  // The final DOM is the last line.
  printing = false;
  console.log(JSON.stringify({ final }));

  // The whole page, not just the window.
  const height = await evaluate("Math.ceil(document.documentElement.scrollHeight)");
  await page("Emulation.setDeviceMetricsOverride", { width: 1400, height, deviceScaleFactor: 1, mobile: false });
  await new Promise((r) => setTimeout(r, 300));
  const { data } = await page("Page.captureScreenshot", { format: "png" });
  writeFileSync(screenshot, Buffer.from(data, "base64"));
} catch (e) {
  await fail(e.message);
}
await cleanup();
process.exit(0);
