// What the browser tests of web/ share: the environment (AURORA_BIN, AURORA_SHARED_DATA,
// AURORA_SCREENSHOT_DIR, AURORA_CHROMIUM) and the skips (77) when the tools are missing, the
// step log and checks, the node (aurora serve with the demo catalogue and --web-root) and its
// metrics, and the browser: console errors, other-origin requests and transferred bytes of a page,
// axe-core, screenshots.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const SKIP = 77;
export const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "../..");
export const chromiumPath = process.env.AURORA_CHROMIUM || "/usr/bin/chromium";
export const sharedData = path.resolve(process.env.AURORA_SHARED_DATA || path.join(repo, "../shared/data"));
export const screenshotDir = path.resolve(process.env.AURORA_SCREENSHOT_DIR || process.cwd());

export function skip(why) {
  console.log(`SKIP: ${why}`);
  process.exit(SKIP);
}

if (!existsSync(path.join(here, "node_modules", "playwright-core")) ||
    !existsSync(path.join(here, "node_modules", "axe-core"))) {
  skip(`no ${path.join(here, "node_modules")} (run \`npm ci\` in tests/web; scripts/setup does)`);
}
if (!existsSync(chromiumPath)) skip(`no ${chromiumPath} (apt-get install chromium)`);
if (!process.env.AURORA_BIN) {
  console.error("FAIL: AURORA_BIN is not set (the path of the aurora binary)");
  process.exit(1);
}

const require = createRequire(import.meta.url);
export const { chromium } = await import("playwright-core");
export const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

// The current step's name (set by the tests) and the soft failures so far.
export const t = { step: "start", failures: 0 };
export function log(message) {
  console.log(`[${t.step}] ${message}`);
}
export function check(condition, message) {
  if (!condition) throw new Error(message);
  log(`ok: ${message}`);
}
export function softCheck(condition, message) {
  if (condition) {
    log(`ok: ${message}`);
  } else {
    t.failures++;
    console.error(`[${t.step}] FAIL: ${message}`);
  }
}

// ---- the node ------------------------------------------------------------------------------

export async function startNode(dataDir, extraArgs = []) {
  const args = [
    "serve", "--demo", sharedData, "--dev-issuer", "--data-dir", dataDir,
    "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
    "--metrics-listen", "127.0.0.1:0", "--codelists", path.join(sharedData, "codelists"),
    "--secret-hash-iterations", "1000", "--web-root", path.join(repo, "web"), ...extraArgs,
  ];
  const child = spawn(process.env.AURORA_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
  const tail = [];
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `aurora serve was not serving after 150 s; last log lines:\n${tail.join("\n")}`)), 150_000);
    createInterface({ input: child.stderr }).on("line", (line) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      let record;
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      if (record.message === "serving") {
        clearTimeout(timer);
        resolve({ httpPort: Number(record.http_port), metricsPort: Number(record.metrics_port) });
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`aurora serve exited (${code ?? signal}) before serving:\n${tail.join("\n")}`));
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${process.env.AURORA_BIN}: ${error.message}`));
    });
  });
  return { child, ready };
}

export async function stopNode(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}

export async function metric(metricsPort, name, labels) {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const text = await response.text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(" ").pop());
}

// ---- the browser ---------------------------------------------------------------------------

// Watches a page: console errors, page errors, requests to other origins, transferred bytes.
export function watch(page, origin, { allowFailedApi = false } = {}) {
  const watched = { errors: [], foreign: [], sizes: [], requests: [] };
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const url = msg.location()?.url || "";
    // A deliberately failing API call is logged by chromium as "Failed to load resource".
    if (allowFailedApi && /Failed to load resource/.test(msg.text()) && url.includes("/v1/")) return;
    watched.errors.push(`${msg.text()} (${url})`);
  });
  page.on("pageerror", (error) => watched.errors.push(`page error: ${error.message}`));
  page.on("request", (request) => {
    const url = request.url();
    watched.requests.push(`${request.method()} ${url}`);
    if (!url.startsWith(origin + "/") && url !== origin) watched.foreign.push(url);
  });
  page.on("requestfinished", (request) => {
    watched.sizes.push(request.sizes().then((s) => ({
      url: request.url(),
      bytes: s.responseBodySize + s.responseHeadersSize,
    })).catch(() => ({ url: request.url(), bytes: 0 })));
  });
  return watched;
}

export async function axeCheck(page, what) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.evaluate(axeSource);  // evaluated through the DevTools protocol, not subject to CSP
  }
  const result = await page.evaluate(() => window.axe.run(document, {
    resultTypes: ["violations"],
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
  }));
  const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of result.violations) {
    log(`axe ${what}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} nodes: ` +
        `${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")})`);
  }
  softCheck(serious.length === 0,
            `axe on ${what}: no serious or critical violations (${result.violations.length} in all)`);
  return result.violations;
}

export async function screenshot(page, name, { fullPage = true } = {}) {
  const file = path.join(screenshotDir, name);
  await page.screenshot({ path: file, fullPage });
  log(`screenshot ${file}`);
}

export async function text(page, selector) {
  return (await page.locator(selector).first().textContent())?.trim();
}
