// End-to-end test of "How am I doing?" (web/) in a real browser: starts `aurora serve` with the
// demo catalogue and --web-root, drives Debian's headless chromium through playwright-core,
// checks the self-assessment, chart, package, services, feedback (through the node's metrics),
// the language switch, API errors in words, keyboard-only use, axe-core accessibility, the page
// weight, "send my answers to this service" (the consent step, development sign-in, Cancel sends
// nothing, the transfer redeemed by the demo service with exactly the consented attributes), "my
// data" (keep two assessments, the history per area, export as a download, delete), and writes
// screenshots to $AURORA_SCREENSHOT_DIR.
//
// Environment: AURORA_BIN (the aurora binary; required), AURORA_SHARED_DATA (default:
// ../shared/data beside the repository), AURORA_SCREENSHOT_DIR (default: the working directory),
// AURORA_CHROMIUM (default: /usr/bin/chromium), AURORA_WEB_SCENARIOS (e.g. "transfer": run only
// those of mouse, errors, keyboard, history, transfer; default all). Exit 0: passed; 77: skipped (no node_modules or
// no chromium); anything else: failed.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import {
  axeCheck, check, chromium, chromiumPath, log, metric, screenshot, screenshotDir, skip,
  startNode, stopNode, t, text, watch,
} from "./harness.mjs";

const PAGE_WEIGHT_LIMIT = 200 * 1024;

async function checkChart(page, answers) {
  const rows = page.locator("#chart svg g[data-area]");
  check((await rows.count()) === 10, "the chart has one row per life area (10)");
  check((await page.locator("#chart svg rect.bar").count()) === Object.keys(answers).length,
        `the chart has one bar per answered area (${Object.keys(answers).length})`);
  for (let i = 0; i < 10; i++) {
    const row = rows.nth(i);
    const area = await row.getAttribute("data-area");
    if (area in answers) {
      const value = await row.locator("text.value").textContent();
      check(value === String(answers[area]) && (await row.locator("rect.bar").count()) === 1,
            `bar of ${area} shows ${answers[area]}`);
    } else {
      check((await row.locator("rect.bar").count()) === 0 &&
            (await row.getAttribute("class")).includes("unanswered"),
            `${area} is shown as unanswered`);
    }
  }
  // No total: the only numbers drawn are the axis ticks and each answered area's own value.
  const numbers = await page.locator("#chart svg text").evaluateAll((nodes) => nodes
    .filter((n) => /^\s*\d+([.,]\d+)?\s*$/.test(n.textContent))
    .map((n) => ({ value: n.textContent.trim(), tick: !!n.closest(".axis"), row: !!n.closest("[data-area]") })));
  check(numbers.every((n) => n.tick || n.row) &&
        numbers.filter((n) => n.row).length === Object.keys(answers).length,
        "the chart draws no number but the ticks and each area's value (no total score)");
  const chartText = (await page.locator("#chart").textContent()).toLowerCase();
  check(!/yhteensä|keskiarvo|total score:|average|totalpoäng:|summa/.test(chartText),
        "the chart names no total or average");
}

// ---- the scenarios -------------------------------------------------------------------------

async function mouseScenario(browser, base, metricsPort) {
  t.step = "load";
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const watched = watch(page, base);
  const started = Date.now();
  await page.goto(base + "/", { waitUntil: "networkidle" });
  log(`loaded in ${Date.now() - started} ms`);
  check((await page.locator("#areas fieldset").count()) === 10, "ten life-area fieldsets");
  check((await text(page, "h1")) === "Miten menee?", "the page is in Finnish by default");
  check((await page.getAttribute("html", "lang")) === "fi", "html lang is fi");
  for (const legend of await page.locator("#areas legend .area-name").allTextContents()) {
    check(legend.length > 0, `area legend "${legend}"`);
  }
  const loadSizes = await Promise.all(watched.sizes);
  const weight = loadSizes.reduce((sum, s) => sum + s.bytes, 0);
  log(`page weight: ${weight} bytes transferred in ${loadSizes.length} responses: ` +
      loadSizes.map((s) => `${new URL(s.url).pathname} ${s.bytes}`).join(", "));
  check(loadSizes.length >= 4, "the page, its script, texts and style were loaded");
  check(weight <= PAGE_WEIGHT_LIMIT, `page weight ${weight} B <= ${PAGE_WEIGHT_LIMIT} B`);
  await screenshot(page, "how-am-i-doing-form-fi.png");
  t.step = "axe form";
  await axeCheck(page, "the form");

  t.step = "assess";
  // Mouse: click the labels (the radios are visually replaced by them).
  const answers = { health: 7, housing: 2, finance: 1, friends: 5 };
  await page.click('label[for="health-7"]');
  await page.click('label[for="finance-1"]');
  await page.click('label[for="friends-5"]');
  // Keyboard on the housing group: from "no answer", ArrowRight wraps to 0, then on to 2.
  await page.focus("#housing-skip");
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
  check(await page.isChecked("#housing-2"), "arrow keys choose a value in a radio group");
  // Change a mind: answer resilience, then take it back with "no answer".
  await page.click('label[for="resilience-4"]');
  await page.click('label[for="resilience-skip"]');
  check(await page.isChecked("#resilience-skip"), "an area can be set back to unanswered");
  await page.fill("#age", "38");
  await page.selectOption("#municipality", "091");
  await page.click("button[type=submit]");

  t.step = "results";
  await page.locator("#services .service").first().waitFor({ timeout: 30_000 });
  await page.locator("#package .step").first().waitFor({ timeout: 30_000 });
  check(await page.locator("#api-error").isHidden(), "no API error shown");
  check((await page.evaluate(() => document.activeElement?.id)) === "results-title",
        "focus moves to the results heading");
  check((await page.getAttribute("#services", "aria-live")) === "polite" &&
        (await page.getAttribute("#status", "aria-live")) === "polite", "results are aria-live");
  await checkChart(page, answers);
  const steps = page.locator("#package .step");
  const stepCount = await steps.count();
  check(stepCount >= 1, `the package has ${stepCount} steps`);
  for (let i = 0; i < stepCount; i++) {
    const s = steps.nth(i);
    const name = (await s.locator(".service-name").textContent()).trim();
    check(name.length > 0 && (await s.locator(".reasons li").count()) >= 1 &&
          /Kattaa tarpeet: \S/.test(await s.locator(".covers").textContent()),
          `step ${i + 1} "${name}" has its needs and reasons`);
  }
  const packageText = await page.locator("#package").textContent();
  check(/Raha-asiat|raha-asiat/.test(packageText) && /asuminen|Asuminen/.test(packageText),
        "the package covers the finance and housing needs");
  const services = page.locator("#services .service");
  const serviceCount = await services.count();
  check(serviceCount >= 3, `${serviceCount} services listed`);
  const first = services.first();
  check((await first.locator(".why dt").count()) >= 2 &&
        /Elämän osa-alueet/.test(await first.locator(".why").textContent()) &&
        /available in|nationwide/.test(await first.locator(".why").textContent()),
        "a service is explained by life areas and availability");
  check((await page.locator("#services .channels a").count()) >= 1 ||
        (await page.locator("#package .channels a").count()) >= 1, "channel links are shown");
  await screenshot(page, "how-am-i-doing-results-fi.png");
  t.step = "axe results";
  await axeCheck(page, "the results");

  t.step = "feedback";
  const before = await metric(metricsPort, "aurora_recommender_feedback_total", 'score="positive"');
  const serviceId = await first.getAttribute("data-service-id");
  await first.locator('button.thumb[data-score="1"]').click();
  await first.locator(".feedback-status", { hasText: "Kiitos palautteesta!" }).waitFor();
  check((await first.locator('button.thumb[data-score="1"]').getAttribute("aria-pressed")) === "true",
        "the thumbs-up is shown as pressed with a thank-you");
  await first.locator('button.thumb[data-score="1"]').click({ force: true });  // sends nothing more
  const after = await metric(metricsPort, "aurora_recommender_feedback_total", 'score="positive"');
  check(before === 0 && after === 1,
        `the node recorded the thumbs-up on ${serviceId}: ` +
        `aurora_recommender_feedback_total{score="positive"} ${before} -> ${after}`);
  await first.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(screenshotDir, "how-am-i-doing-feedback-fi.png") });
  log(`screenshot ${path.join(screenshotDir, "how-am-i-doing-feedback-fi.png")}`);

  t.step = "language";
  await page.click('button[data-lang="sv"]');
  check((await text(page, "h1")) === "Hur mår du?", "Svenska: the title is Hur mår du?");
  check((await page.getAttribute("html", "lang")) === "sv", "html lang is sv");
  check((await text(page, "#areas fieldset .area-name")) === "Hälsa", "area names in Swedish");
  check((await text(page, "#chart svg g[data-area] text.label")) === "Hälsa", "chart in Swedish");
  check((await text(page, "#services h3")) === "Tjänster för dig", "results in Swedish");
  check(await page.isChecked("#housing-2"), "the answers survive the language switch");
  check(/Tack för responsen!/.test(await first.locator(".feedback-status").textContent()),
        "the feedback state survives the language switch");
  await screenshot(page, "how-am-i-doing-results-sv.png");
  await page.click('button[data-lang="en"]');
  check((await text(page, "h1")) === "How am I doing?", "English: the title is How am I doing?");
  check((await page.getAttribute("html", "lang")) === "en", "html lang is en");
  check((await text(page, "#package h3")) === "Service package", "package heading in English");
  check((await page.locator("#chart svg g.unanswered text.value").first().textContent()) ===
        "no answer", "unanswered areas in English");
  check((await page.getAttribute('button[data-lang="en"]', "aria-pressed")) === "true",
        "the chosen language button is pressed");
  await screenshot(page, "how-am-i-doing-results-en.png");
  await page.reload({ waitUntil: "networkidle" });
  check((await text(page, "h1")) === "How am I doing?", "the language is remembered in the tab");
  const otherTab = await context.newPage();
  await otherTab.goto(base + "/", { waitUntil: "networkidle" });
  check((await text(otherTab, "h1")) === "Miten menee?", "a new tab starts in Finnish");
  await otherTab.close();

  t.step = "mouse scenario";
  check(watched.foreign.length === 0, `no request to another origin (${watched.requests.length} requests)`);
  check(watched.errors.length === 0, `no console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  log(`requests: ${[...new Set(watched.requests.map((r) => r.replace(base, "")))].join(", ")}`);
  await context.close();
  return weight;
}

async function errorScenario(browser, base) {
  t.step = "errors";
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 },
                                             locale: "en-GB" });
  const page = await context.newPage();
  const watched = watch(page, base, { allowFailedApi: true });
  await page.goto(base + "/", { waitUntil: "networkidle" });
  // Nothing answered: said in words, with a link to the first question.
  await page.click("button[type=submit]");
  check(/Vastaa ainakin yhteen kohtaan/.test(await page.locator("#form-errors").textContent()),
        "submitting nothing asks for at least one answer");
  check((await page.evaluate(() => document.activeElement?.id)) === "form-errors",
        "focus moves to the error summary");
  // A malformed code is refused by the page; an unknown one by the API, whose message is shown.
  await page.click('label[for="health-3"]');
  await page.fill("#age", "abc");
  await page.selectOption("#municipality", "other");
  await page.fill("#municipality-code", "12");
  await page.click("button[type=submit]");
  check((await page.locator("#age-error").textContent()).includes("0–120") &&
        (await page.getAttribute("#municipality-code", "aria-invalid")) === "true",
        "a bad age and a 2-digit code are refused by the page");
  await screenshot(page, "how-am-i-doing-form-errors-fi.png");
  await page.fill("#age", "");
  await page.fill("#municipality-code", "999");
  await page.click("button[type=submit]");
  await page.locator("#api-error").waitFor({ state: "visible", timeout: 30_000 });
  const message = await page.locator("#api-error").textContent();
  check(/Palvelu vastasi virheellä \(400\): municipality_code: unknown municipality code "999"/.test(message),
        `the API's error is shown in words: ${message}`);
  check(watched.errors.length === 0, `no other console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  check(watched.foreign.length === 0, "no request to another origin");
  await context.close();
}

async function keyboardScenario(browser, base, metricsPort) {
  t.step = "keyboard";
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true,
                                             hasTouch: false, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const watched = watch(page, base);
  await page.goto(base + "/", { waitUntil: "networkidle" });
  const active = () => page.evaluate(() => {
    const a = document.activeElement;
    return a ? (a.id || a.getAttribute("data-lang") || a.className || a.tagName) : "";
  });
  await page.keyboard.press("Tab");
  check((await active()) === "skip", "Tab first reaches the skip link");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check(outline !== "none", `the focused element has a visible focus outline (${outline})`);
  await page.keyboard.press("Tab");
  check((await active()) === "fi", "then the language switch");
  await page.keyboard.press("Shift+Tab");
  await page.keyboard.press("Enter");
  check((await active()) === "main", "the skip link moves focus to the content");
  await page.keyboard.press("Tab");
  check((await active()) === "health-skip", "Tab reaches the first life area");
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");  // skip -> 0 -> 1 -> 2
  await page.keyboard.press("Tab");
  check((await active()) === "resilience-skip", "Tab moves to the next area");
  await page.keyboard.press("Tab");
  check((await active()) === "housing-skip", "and on");
  for (let i = 0; i < 4; i++) await page.keyboard.press("ArrowRight");  // -> 3
  await page.keyboard.press("Tab");  // working_studying
  await page.keyboard.press("ArrowLeft");  // skip -> 10
  for (let i = 0; i < 7; i++) await page.keyboard.press("Tab");
  check((await active()) === "age", "after the ten areas, Tab reaches the age");
  await page.keyboard.type("34");
  await page.keyboard.press("Tab");
  check((await active()) === "municipality", "then the municipality");
  for (let i = 0; i < 5; i++) await page.keyboard.press("ArrowDown");
  check((await page.inputValue("#municipality")) === "564", "the municipality is chosen by keys");
  await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement?.type)) === "submit",
        "then the submit button");
  await screenshot(page, "how-am-i-doing-keyboard-mobile-fi.png");
  await page.keyboard.press("Enter");
  await page.locator("#services .service").first().waitFor({ timeout: 30_000 });
  await checkChart(page, { health: 2, housing: 3, working_studying: 10 });
  // Tab on to the first thumbs-down and give it with the space bar.
  let found = false;
  for (let i = 0; i < 300 && !found; i++) {
    await page.keyboard.press("Tab");
    found = await page.evaluate(() =>
      document.activeElement?.matches('#services button.thumb[data-score="-1"]') ?? false);
  }
  check(found, "Tab reaches a thumbs-down button");
  const before = await metric(metricsPort, "aurora_recommender_feedback_total", 'score="negative"');
  await page.keyboard.press("Space");
  await page.locator("#services .feedback-status", { hasText: "Kiitos palautteesta!" }).first().waitFor();
  const after = await metric(metricsPort, "aurora_recommender_feedback_total", 'score="negative"');
  check(before === 0 && after === 1,
        `the keyboard thumbs-down was recorded: aurora_recommender_feedback_total{score="negative"} ${before} -> ${after}`);
  check(await page.evaluate(() => document.activeElement?.matches("button.thumb") ?? false),
        "focus stays on the feedback buttons");
  await screenshot(page, "how-am-i-doing-results-mobile-fi.png");
  t.step = "axe mobile";
  await axeCheck(page, "the results on a phone-sized screen");
  check(watched.errors.length === 0, `no console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  check(watched.foreign.length === 0, "no request to another origin");
  await context.close();
}

// ---- session transfer ----------------------------------------------------------------------

// A demo service of the demo organisation whose e-service channel takes session transfers for
// the demo API client, in Helsinki, labelled with housing and finances so that the page shows it.
const TRANSFER_CHANNEL_ID = "5e55a0e1-7a2b-4c3d-8e9f-a0b1c2d3e4f5";
const TRANSFER_SERVICE_NAME = "Siirtokokeilun asumis- ja raha-asiainneuvonta";

async function createTransferService(base, credentials) {
  const basic = "Basic " + Buffer.from(`${credentials.client_id}:${credentials.client_secret}`).toString("base64");
  const response = await fetch(`${base}/v1/services`, {
    method: "POST",
    headers: { Authorization: basic, "Content-Type": "application/json" },
    body: JSON.stringify({
      organization_id: credentials.organization_id, kind: "SERVICE_KIND_SERVICE",
      name: { fi: TRANSFER_SERVICE_NAME, sv: "Boende- och ekonomirådgivning (överföringstest)",
              en: "Housing and money advice (transfer trial)" },
      summary: { fi: "Asumisen ja raha-asioiden neuvontaa verkossa: vuokra, velat ja toimeentulo.",
                 en: "Housing and money advice online: rent, debts and income." },
      keywords: ["asuminen", "vuokra", "velka", "raha-asiat", "toimeentulo"],
      // Helsinki's own: a home municipality prefers its local services (locality_bonus), so a
      // nationwide one would not reliably make the page's eight.
      area_type: "AREA_TYPE_LIMITED", municipality_codes: ["091"], languages: ["fi", "en"],
      life_areas: ["LIFE_AREA_HOUSING", "LIFE_AREA_FINANCE"],
      channels: [{
        id: TRANSFER_CHANNEL_ID, type: "CHANNEL_TYPE_ELECTRONIC",
        name: { fi: "Neuvonnan verkkoasiointi", en: "Advice online" },
        urls: ["https://neuvonta.example/asiointi"],
        session_transfer: { client_id: credentials.client_id,
                            accepted_attributes: ["age", "municipality_code", "life_situation_meters"] },
      }],
    }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`creating the transfer service: ${response.status} ${JSON.stringify(body)}`);
  return { service: body, basic };
}

async function personApi(base, token, pathname) {
  const response = await fetch(base + pathname, { headers: { Authorization: `Bearer ${token}` } });
  const body = await response.json();
  if (!response.ok) throw new Error(`GET ${pathname}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

async function transferScenario(browser, base, dataDir) {
  t.step = "transfer setup";
  const credentials = JSON.parse(readFileSync(path.join(dataDir, "demo-credentials.json"), "utf8"));
  const { service, basic } = await createTransferService(base, credentials);
  log(`created service ${service.id} with channel ${TRANSFER_CHANNEL_ID} (client ${credentials.client_id})`);

  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const watched = watch(page, base);
  await page.goto(base + "/", { waitUntil: "networkidle" });
  await page.click('label[for="housing-2"]');
  await page.click('label[for="finance-3"]');
  await page.fill("#age", "29");
  await page.selectOption("#municipality", "091");
  // The service can take up to a moment to reach the recommender's index.
  let card;
  for (let attempt = 0; attempt < 20; attempt++) {
    await page.click("button[type=submit]");
    await page.locator("#services .service").first().waitFor({ timeout: 30_000 });
    card = page.locator(`#services .service[data-service-id="${service.id}"]`);
    if (await card.count()) break;
    await page.waitForTimeout(500);
  }
  log(`services listed: ${(await page.locator("#services .service-name").allTextContents()).join(" / ")}`);
  check((await card.count()) === 1, `the transfer service "${TRANSFER_SERVICE_NAME}" is among the services`);
  const button = card.locator(`button.send-answers[data-transfer-channel="${TRANSFER_CHANNEL_ID}"]`);
  check((await button.textContent()).trim() === "Lähetä vastaukseni tälle palvelulle",
        "its card has the button Lähetä vastaukseni tälle palvelulle");
  // The demo catalogue has no channel that takes transfers: this one is the only button.
  check((await page.locator("button.send-answers").count()) === 1,
        "only the card of a channel that takes transfers has the button");
  const dialog = page.locator("#consent");
  check(await dialog.isHidden(), "the consent step is closed at first");

  t.step = "consent keyboard";
  await button.focus();
  await page.keyboard.press("Enter");
  await dialog.waitFor({ state: "visible" });
  check(await page.evaluate(() => document.querySelector("#consent").matches(":modal")),
        "the consent step opens as a modal dialog");
  check((await page.evaluate(() => document.activeElement?.id)) === "consent-title",
        "focus moves to the consent step's heading");
  check((await page.getAttribute("#consent", "aria-labelledby")) === "consent-title",
        "the dialog is named by its heading");
  const listed = await dialog.locator("input[type=checkbox]").evaluateAll((boxes) =>
    boxes.map((b) => ({ name: b.dataset.attribute, checked: b.checked })));
  check(JSON.stringify(listed.map((b) => b.name)) ===
        JSON.stringify(["life_situation_meters", "age", "municipality_code"]),
        `the consent step lists exactly life_situation_meters, age, municipality_code (${listed.map((b) => b.name)})`);
  check(listed.every((b) => !b.checked), "every attribute starts unchecked (nothing goes unless chosen)");
  const values = Object.fromEntries(await dialog.locator("[data-value-of]").evaluateAll((spans) =>
    spans.map((s) => [s.dataset.valueOf, s.textContent.trim()])));
  check(values.life_situation_meters === "Asuminen 2/10; Raha-asiat 3/10" && values.age === "29" &&
        values.municipality_code === "Helsinki (091)",
        `the values are shown: ${JSON.stringify(values)}`);
  const recipient = await dialog.locator(".recipient").textContent();
  check(recipient.includes("Aurora-demo-organisaatio") && recipient.includes(TRANSFER_SERVICE_NAME) &&
        recipient.includes("Neuvonnan verkkoasiointi") && recipient.includes("https://neuvonta.example/asiointi"),
        `the recipient is named: organisation, service and channel (${recipient.replace(/\s+/g, " ")})`);
  // Tab to the first checkbox, tick it with the space bar, then Escape: nothing sent.
  await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement?.dataset.attribute)) === "life_situation_meters",
        "Tab reaches the first checkbox");
  await page.keyboard.press("Space");
  check(await page.isChecked("#consent-attr-life_situation_meters"), "Space ticks it");
  let inside = true;
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press("Tab");
    inside &&= await page.evaluate(() => !!document.activeElement?.closest("#consent") ||
                                         document.activeElement === document.body);
  }
  check(inside, "Tab stays inside the modal consent step");
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  check(await page.evaluate(() => document.activeElement?.matches("button.send-answers")),
        "Escape closes it and focus returns to the button");

  t.step = "consent sign-in and cancel";
  await button.click();
  await dialog.waitFor({ state: "visible" });
  check(await dialog.locator("input[type=checkbox]:checked").count() === 0,
        "reopened, nothing is ticked");
  check((await dialog.locator("#consent-signin").textContent()).trim() === "Kirjaudu (kehitys)",
        "the node's development sign-in is offered");
  await dialog.locator("#consent-confirm").click();
  check(/Valitse ainakin yksi/.test(await dialog.locator("#consent-error").textContent()),
        "confirming with nothing ticked asks to choose");
  await dialog.locator("#consent-signin").click();
  await dialog.locator(".signed-in").waitFor();
  const token = await page.evaluate(() =>
    JSON.parse(sessionStorage.getItem("aurora.how-am-i-doing.token")).token);
  check(typeof token === "string" && token.split(".").length === 3,
        "signed in with the development issuer; the token is kept in sessionStorage");
  await dialog.locator("#consent-attr-age").check();
  await dialog.locator("#consent-cancel").click();
  await dialog.waitFor({ state: "hidden" });
  check(await page.evaluate(() => document.activeElement?.matches("button.send-answers")),
        "Cancel closes it and focus returns to the button");
  const logAfterCancel = await personApi(base, token, "/v1/profile/access-log");
  const profileAfterCancel = await personApi(base, token, "/v1/profile");
  check(logAfterCancel.entries.length === 0 && profileAfterCancel.attributes.length === 0,
        "Cancel sent nothing: the access log and the profile are empty");
  check(!watched.requests.some((r) => /\/v1\/profile\/(transfers|attributes)/.test(r)),
        "no profile or transfer request was made");

  t.step = "consent confirm";
  await button.click();
  await dialog.waitFor({ state: "visible" });
  check((await dialog.locator(".signed-in").count()) === 1, "still signed in");
  await dialog.locator("#consent-attr-life_situation_meters").check();
  await dialog.locator("#consent-attr-municipality_code").check();
  check(!(await dialog.locator("#consent-attr-age").isChecked()), "age is left unticked");
  await screenshot(page, "how-am-i-doing-consent-fi.png", { fullPage: false });
  t.step = "axe consent";
  await axeCheck(page, "the consent step");
  t.step = "consent confirm";
  await dialog.locator("#consent-confirm").click();
  await dialog.locator(".transfer-link").waitFor({ timeout: 15_000 });
  check((await page.evaluate(() => document.activeElement?.id)) === "consent-title" &&
        (await text(page, "#consent-title")) === "Tiedot lähetetty",
        "the result is announced: focus on Tiedot lähetetty");
  const sentNames = await dialog.locator(".sent-attributes li").evaluateAll((items) =>
    items.map((li) => li.dataset.attribute).sort());
  check(JSON.stringify(sentNames) === JSON.stringify(["life_situation_meters", "municipality_code"]),
        `the result lists what was sent (${sentNames})`);
  const href = await dialog.locator(".transfer-link").getAttribute("href");
  const link = new URL(href);
  const accessToken = link.searchParams.get("auroraai_access_token");
  check(link.origin + link.pathname === "https://neuvonta.example/asiointi" && /^[0-9a-f]{64}$/.test(accessToken),
        `the link opens the channel with the transfer token (${link.origin}${link.pathname}?auroraai_access_token=…)`);
  await screenshot(page, "how-am-i-doing-consent-sent-fi.png", { fullPage: false });
  t.step = "axe consent sent";
  await axeCheck(page, "the consent step's result");
  t.step = "consent confirm";
  await dialog.locator("#consent-close").click();
  await dialog.waitFor({ state: "hidden" });
  check(await page.evaluate(() => document.activeElement?.matches("button.send-answers")),
        "Close returns focus to the button");
  check((await card.locator(".transfer-link").getAttribute("href")) === href,
        "the card keeps the link to the service");

  t.step = "redeem";
  const redeem = await fetch(`${base}/v1/profile-access/transfers:redeem`, {
    method: "POST", headers: { Authorization: basic, "Content-Type": "application/json" },
    body: JSON.stringify({ access_token: accessToken }),
  });
  const redeemed = await redeem.json();
  check(redeem.ok, `the service redeemed the token with its client credentials (${redeem.status})`);
  const received = Object.fromEntries(redeemed.attributes.map((a) => [a.name, a.value]));
  log(`received: ${JSON.stringify(received)}`);
  check(JSON.stringify(Object.keys(received).sort()) === JSON.stringify(["life_situation_meters", "municipality_code"]),
        "the service received exactly the consented attributes (not age)");
  const meters = received.life_situation_meters || {};
  check(Object.keys(meters).length === 2 && JSON.stringify(meters.housing) === "[2]" &&
        JSON.stringify(meters.finance) === "[3]" &&
        received.municipality_code === "091",
        "with the answered values: housing 2, finance 3, municipality 091");
  check(redeemed.service_channel_id === TRANSFER_CHANNEL_ID && redeemed.client_id === credentials.client_id,
        "for the channel and the client the directory names");
  const again = await fetch(`${base}/v1/profile-access/transfers:redeem`, {
    method: "POST", headers: { Authorization: basic, "Content-Type": "application/json" },
    body: JSON.stringify({ access_token: accessToken }),
  });
  check(again.status === 404, `the token works only once (${again.status} the second time)`);
  const log1 = await personApi(base, token, "/v1/profile/access-log");
  check(log1.entries.length === 1 && log1.entries[0].operation === "transfer" &&
        JSON.stringify([...log1.entries[0].attributes].sort()) === JSON.stringify(["life_situation_meters", "municipality_code"]),
        "the person's access log has the one transfer, of the consented attributes");
  const profile = await personApi(base, token, "/v1/profile");
  check(JSON.stringify(profile.attributes.map((a) => a.name).sort()) ===
        JSON.stringify(["life_situation_meters", "municipality_code"]),
        "only the consented attributes were stored in the profile");

  t.step = "transfer scenario";
  check(watched.foreign.length === 0, "no request to another origin");
  check(watched.errors.length === 0, `no console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  await context.close();
}

// ---- "my data": keep assessments, the history per area, export, delete ---------------------

async function answerAndSubmit(page, answers) {
  await page.click('button[type=reset]');
  for (const [area, value] of Object.entries(answers)) await page.click(`label[for="${area}-${value}"]`);
  await page.click("button[type=submit]");
  await page.locator("#services .service").first().waitFor({ timeout: 30_000 });
  await page.locator("#keep-assessment:not([disabled])").waitFor();
}

async function historyTableValues(page) {
  return page.locator("#history-table tbody tr").evaluateAll((rows) => Object.fromEntries(rows.map((tr) =>
    [tr.dataset.area, [...tr.querySelectorAll("td[data-date]")].map((td) => td.dataset.value)])));
}

async function historyScenario(browser, base) {
  t.step = "history setup";
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const watched = watch(page, base);
  await page.goto(base + "/", { waitUntil: "networkidle" });
  const first = { health: 3, housing: 5, finance: 2 };
  const second = { health: 6, housing: 4, friends: 8 };
  await answerAndSubmit(page, first);
  const mydata = page.locator("#mydata");
  check(await mydata.isVisible(), "after the results, the My data section is shown");
  check(/vain profiiliisi/.test(await mydata.locator("#keep-what").textContent()),
        "one sentence says what is stored where");
  check(!watched.requests.some((r) => /\/v1\/profile/.test(r)), "nothing is read or stored before sign-in");

  t.step = "history sign-in";
  await page.click("#mydata-signin");
  await mydata.locator(".signed-in").waitFor();
  const token = await page.evaluate(() =>
    JSON.parse(sessionStorage.getItem("aurora.how-am-i-doing.token")).token);
  check(typeof token === "string" && token.split(".").length === 3, "signed in with the development issuer");
  await page.locator("#history-empty").waitFor();
  check(!watched.requests.some((r) => /PATCH .*\/v1\/profile/.test(r)), "signing in stores nothing");

  t.step = "history keep";
  const date = await page.evaluate(() => {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  });
  await page.click("#keep-assessment");
  await page.locator("#history-table thead th[data-date]").first().waitFor();
  check((await page.locator("#history-table thead th[data-date]").count()) === 1, "one kept assessment is shown");
  check(/tallennettu/.test(await text(page, "#mydata-status")), "the keeping is announced");
  await answerAndSubmit(page, second);
  check(/^(\s*)$/.test((await text(page, "#mydata-status")) || "") &&
        (await page.locator("#history-table thead th[data-date]").count()) === 1,
        "a new assessment is not kept until asked");
  await page.click("#keep-assessment");
  await page.locator("#history-table thead th[data-date]").nth(1).waitFor();
  const dates = await page.locator("#history-table thead th[data-date]").evaluateAll((ths) => ths.map((th) => th.dataset.date));
  check(JSON.stringify(dates) === JSON.stringify([date, date]), `the history has two dates as columns (${dates})`);
  const values = await historyTableValues(page);
  log(`history table: ${JSON.stringify(values)}`);
  check(JSON.stringify(values) === JSON.stringify({
    health: ["3", "6"], housing: ["5", "4"], friends: ["", "8"], finance: ["2", ""] }),
        "per area, the values of both assessments in order (unanswered left empty)");
  check(/Terveys/.test(await page.locator('#history-table tr[data-area="health"] th').textContent()) &&
        (await page.locator('#history-table tr[data-area="health"] td.change').textContent()) === "+3",
        "each area is named and its change shown (health +3)");
  const tableText = (await page.locator("#history-table").textContent()).toLowerCase();
  check(!/yhteensä|keskiarvo|summa/.test(tableText), "no total or average");

  t.step = "history api";
  const profile = await personApi(base, token, "/v1/profile");
  const attrs = Object.fromEntries(profile.attributes.map((a) => [a.name, a.value]));
  // Canonical JSON (object keys sorted): the profile keeps no key order.
  const canon = (v) => JSON.stringify(v, (k, x) => x && typeof x === "object" && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x);
  const asMeters = (answers) => canon(Object.fromEntries(Object.entries(answers).map(([k, v]) => [k, [v]])));
  const history = attrs.life_situation_history || [];
  check(history.length === 2 && history.every((e) => e.date === date) &&
        canon(history[0].meters) === asMeters(first) &&
        canon(history[1].meters) === asMeters(second),
        `GET /v1/profile has both entries: ${JSON.stringify(history)}`);
  check(canon(attrs.life_situation_meters) === asMeters(second),
        "life_situation_meters holds the current answers");
  await mydata.scrollIntoViewIfNeeded();
  await mydata.screenshot({ path: path.join(screenshotDir, "how-am-i-doing-history-fi.png") });
  log(`screenshot ${path.join(screenshotDir, "how-am-i-doing-history-fi.png")}`);
  t.step = "axe history";
  await axeCheck(page, "the history view");

  t.step = "history language";
  await page.click('button[data-lang="en"]');
  check((await text(page, "#mydata-title")) === "My data" &&
        /Health/.test(await page.locator('#history-table tr[data-area="health"] th').textContent()),
        "the section follows the language (en)");
  await mydata.screenshot({ path: path.join(screenshotDir, "how-am-i-doing-history-en.png") });
  await page.click('button[data-lang="fi"]');

  t.step = "export";
  await page.click("#export-data");
  await page.locator("#export-link").waitFor();
  check((await page.getAttribute("#export-link", "href")).startsWith("blob:") &&
        (await page.getAttribute("#export-link", "download")).endsWith(".json"),
        "the export is offered as a Blob link with a download attribute");
  check(watched.requests.some((r) => r.startsWith("GET ") && r.endsWith("/v1/profile:export")),
        "the page read GET /v1/profile:export");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-link")]);
  const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
  const exportedHistory = (exported.attributes || []).find((a) => a.name === "life_situation_history")?.value || [];
  check(download.suggestedFilename().endsWith(".json") && exportedHistory.length === 2 &&
        canon(exportedHistory[0].meters) === asMeters(first) &&
        canon(exportedHistory[1].meters) === asMeters(second),
        `the downloaded ${download.suggestedFilename()} holds both assessments`);

  t.step = "delete";
  await page.click("#delete-data");
  await page.locator("#delete-confirmation").waitFor();
  check((await page.evaluate(() => document.activeElement?.id)) === "delete-confirm",
        "deleting asks for confirmation first (focus on the confirm button)");
  t.step = "axe delete";
  await axeCheck(page, "the delete confirmation");
  t.step = "delete";
  await page.click("#delete-cancel");
  check((await personApi(base, token, "/v1/profile")).attributes.length === 2, "Cancel deletes nothing");
  await page.click("#delete-data");
  await page.click("#delete-confirm");
  await page.locator("#delete-done").waitFor({ timeout: 15_000 });
  check(watched.requests.some((r) => r.startsWith("DELETE ") && r.endsWith("/v1/profile")),
        "the page called DELETE /v1/profile");
  const after = await personApi(base, token, "/v1/profile");
  check((after.attributes || []).length === 0, "GET /v1/profile shows no attributes afterwards");
  check((await page.locator("#history-table").count()) === 0 && (await page.locator("#history-empty").count()) === 1,
        "the page shows that nothing remains");
  t.step = "axe deleted";
  await axeCheck(page, "the deleted state");

  t.step = "history scenario";
  check(watched.foreign.length === 0, "no request to another origin");
  check(watched.errors.length === 0, `no console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  await context.close();
}

// ---- main ----------------------------------------------------------------------------------

let node;
let browser;
const dataDir = mkdtempSync(path.join(tmpdir(), "aurora-web-test-"));
try {
  mkdirSync(screenshotDir, { recursive: true });
  t.step = "node";
  node = await startNode(dataDir);
  const ports = await node.ready;
  const base = `http://127.0.0.1:${ports.httpPort}`;
  log(`aurora serving at ${base}, metrics on ${ports.metricsPort}`);
  t.step = "browser";
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  log(`chromium ${browser.version()}`);
  // AURORA_WEB_SCENARIOS=transfer,... runs only those (for working on one); default: all.
  const only = (process.env.AURORA_WEB_SCENARIOS || "").split(",").filter(Boolean);
  const run = (name) => !only.length || only.includes(name);
  let weight = "not measured";
  if (run("mouse")) weight = await mouseScenario(browser, base, ports.metricsPort);
  if (run("errors")) await errorScenario(browser, base);
  if (run("keyboard")) await keyboardScenario(browser, base, ports.metricsPort);
  if (run("history")) await historyScenario(browser, base);
  // Last: it adds a service to the directory, which would change the others' results.
  if (run("transfer")) await transferScenario(browser, base, dataDir);
  t.step = "end";
  if (t.failures) throw new Error(`${t.failures} check(s) failed (see above)`);
  console.log(`PASS: how-am-i-doing (page weight ${weight} B)`);
} catch (error) {
  console.error(`FAIL [${t.step}]: ${error.stack || error.message}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  if (node) await stopNode(node.child);
  rmSync(dataDir, { recursive: true, force: true });
}
