// End-to-end test of the AuroraAI chat widget (web/chat.js) in a real browser: starts `aurora
// serve` with the demo catalogue and --web-root, drives Debian's headless chromium through
// playwright-core and holds conversations over POST /v1/conversation:turn: a need, the bot's
// question for the municipality answered with a quick reply, service cards with reasons, a
// thumbs-up recorded by the node (metrics), the crisis path, "clear conversation" (the next
// request carries no state), the language switch, keyboard-only use, axe-core, no storage of the
// conversation, no other-origin requests, the widget embedded on another origin's page, and the
// session transfer from a service card ("Lähetä tietoni tälle palvelulle": the consent step, the
// development sign-in, the transfer redeemed by the service with exactly the ticked attributes).
// Screenshots go to $AURORA_SCREENSHOT_DIR.
//
// Environment: as how-am-i-doing.test.mjs (AURORA_BIN required; AURORA_SHARED_DATA,
// AURORA_SCREENSHOT_DIR, AURORA_CHROMIUM; AURORA_WEB_SCENARIOS: any of conversation, crisis,
// keyboard, embed, transfer). Exit 0: passed; 77: skipped; anything else: failed.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer } from "node:http";

import {
  axeCheck, check, chromium, chromiumPath, log, metric, screenshot, screenshotDir, startNode,
  stopNode, t, text, watch,
} from "./harness.mjs";

// The origin of an organisation's page the widget is embedded on: a small server of this test
// (on loopback, as the node: chromium blocks a public page's requests to a loopback address).
let EMBED_ORIGIN;
let embedPage = "";

// ---- the widget ----------------------------------------------------------------------------

// A screenshot of the widget alone, its log scrolled to the top (the first answer in view).
async function widgetShot(page, name, root = ".chat-region") {
  await page.evaluate((root) => {
    const log = document.querySelector(root).querySelector(".ac-log");
    if (log) log.scrollTop = 0;
  }, root);
  const file = path.join(screenshotDir, name);
  await page.locator(root).screenshot({ path: file });
  log(`screenshot ${file}`);
}

const W = "#aurora-chat";  // the widget on "How am I doing?"

// The bodies of the conversation requests the page makes.
function watchTurns(page) {
  const turns = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname === "/v1/conversation:turn") {
      turns.push(JSON.parse(request.postData() || "null"));
    }
  });
  return turns;
}

async function openChat(page) {
  await page.click("#chat-open");
  await page.locator(`${W} .aurora-chat`).waitFor();
  check((await page.getAttribute("#chat-open", "aria-expanded")) === "true", "the open-chat button opens the widget");
}

// Sends a message by typing; waits for the bot's answer (the n-th bot message).
async function say(page, root, message) {
  const bots = await page.locator(`${root} .ac-bot`).count();
  await page.fill(`${root} .ac-input`, message);
  await page.click(`${root} .ac-send`);
  await page.locator(`${root} .ac-bot`).nth(bots).waitFor({ timeout: 30_000 });
  return page.locator(`${root} .ac-bot`).nth(bots);
}

async function storageHolds(page, words) {
  return page.evaluate((words) => {
    const all = [];
    for (const store of [localStorage, sessionStorage]) {
      for (let i = 0; i < store.length; i++) all.push(store.key(i), store.getItem(store.key(i)));
    }
    const text = all.join("\n").toLowerCase();
    return words.filter((w) => text.includes(w.toLowerCase()));
  }, words);
}

async function conversationScenario(browser, base, metricsPort) {
  t.step = "conversation";
  const context = await browser.newContext({ viewport: { width: 1000, height: 1000 } });
  const page = await context.newPage();
  const watched = watch(page, base);
  const turns = watchTurns(page);
  await page.goto(base + "/", { waitUntil: "networkidle" });
  check(await page.locator(W).isHidden(), "the chat is closed at first");
  check((await text(page, "#chat-open")) === "Kysy chatilta palveluista", "the page has the open-chat button");
  await openChat(page);
  check((await text(page, `${W} .ac-title`)) === "AuroraAI-palveluopas", "the widget is in Finnish");
  check(/ei tallenneta/.test(await text(page, `${W} .ac-privacy`)), "the widget says the conversation is not stored");
  check((await page.getAttribute(`${W} .ac-log`, "role")) === "log" &&
        (await page.getAttribute(`${W} .ac-log`, "aria-live")) === "polite", "the message log is role=log, aria-live polite");
  const inputId = await page.getAttribute(`${W} .ac-input`, "id");
  check((await page.locator(`label[for="${inputId}"]`).textContent()) === "Viestisi", "the input is labelled");

  const ask = await say(page, W, "tarvitsen vuokra-asunnon");
  check(/Missä kunnassa asut\?/.test(await ask.textContent()), `the bot asks for the municipality: ${(await ask.textContent()).trim()}`);
  check(turns.length === 1 && turns[0].message === "tarvitsen vuokra-asunnon" && turns[0].language === "fi" &&
        !("state" in turns[0]), "the first request carries the message and language, no state");
  const quick = page.locator(`${W} .ac-suggestion`);
  const suggestions = await quick.allTextContents();
  check(suggestions.includes("Helsinki") && suggestions.includes("En halua kertoa"),
        `quick replies are offered: ${suggestions.join(" / ")}`);
  check((await page.locator(`${W} .ac-card`).count()) === 0, "no services before the municipality is known");

  await quick.filter({ hasText: "Helsinki" }).click();
  await page.locator(`${W} .ac-card`).first().waitFor({ timeout: 30_000 });
  check(turns.length === 2 && turns[1].message === "Helsinki" && turns[1].state?.awaiting === "municipality" &&
        turns[1].state?.need === "tarvitsen vuokra-asunnon",
        "the quick reply is sent with the previous answer's state");
  check((await page.locator(`${W} .ac-user`).allTextContents()).map((s) => s.replace(/^Sinä/, "")).join("|") ===
        "tarvitsen vuokra-asunnon|Helsinki", "the person's messages are in the log");
  const cards = page.locator(`${W} .ac-card`);
  const count = await cards.count();
  const names = await page.locator(`${W} .ac-service-name`).allTextContents();
  log(`services: ${names.join(" / ")}`);
  check(count >= 1 && names.some((n) => /vuokra|asun/i.test(n)), `${count} service cards, about housing`);
  const first = cards.first();
  const why = await first.locator(".ac-why").textContent();
  check(/Miksi tätä ehdotetaan/.test(why) && /Saatavuus|Kenelle|Elämän osa-alueet/.test(why),
        `the card gives its reasons (${why.replace(/\s+/g, " ").slice(0, 160)}…)`);
  check((await page.locator(`${W} .ac-card .ac-channels a`).count()) >= 1, "channel links are shown");
  check((await page.locator(`${W} .ac-crisis`).isHidden()), "no crisis banner for a housing need");

  t.step = "conversation feedback";
  const before = await metric(metricsPort, "aurora_recommender_feedback_total", 'score="positive"');
  await first.locator('.ac-thumb[data-score="1"]').click();
  await first.locator(".ac-feedback-status", { hasText: "Kiitos palautteesta!" }).waitFor();
  check((await first.locator('.ac-thumb[data-score="1"]').getAttribute("aria-pressed")) === "true",
        "the thumbs-up is shown pressed with a thank-you");
  const after = await metric(metricsPort, "aurora_recommender_feedback_total", 'score="positive"');
  check((before ?? 0) + 1 === after, `the node recorded it: aurora_recommender_feedback_total{score="positive"} ${before} -> ${after}`);

  t.step = "conversation redirect";
  // A channel link click is recorded with :redirect (the provider's page itself is not loaded).
  await context.route((url) => url.origin !== base, (route) => route.fulfill({ status: 204, body: "" }));
  const link = page.locator(`${W} .ac-card a.ac-channel`).first();
  if (await link.count()) {
    const redirect = page.waitForRequest((r) => /:redirect$/.test(r.url()) && r.method() === "POST");
    await link.click({ modifiers: ["Control"] });  // a new tab, so the chat stays
    const request = await redirect;
    const body = JSON.parse(request.postData());
    check(typeof body.service_id === "string" && typeof body.channel_id === "string",
          "a channel link click posts :redirect with the service and channel");
    watched.foreign.splice(0);  // the provider's page opened in its own tab, answered by the route
    for (const other of context.pages()) if (other !== page) await other.close();
  } else {
    log("no web channel link among the cards: redirect not checked");
  }

  await widgetShot(page, "chat-results-fi.png");
  t.step = "axe chat results";
  await axeCheck(page, "the chat with results");

  t.step = "storage";
  const kept = await storageHolds(page, ["vuokra-asunnon", "Helsinki", "Missä kunnassa"]);
  check(kept.length === 0, `nothing of the conversation in localStorage or sessionStorage (${kept.join(", ") || "none"})`);

  t.step = "language";
  await page.click('button[data-lang="sv"]');
  check((await text(page, `${W} .ac-title`)) === "AuroraAI-serviceguide" &&
        (await text(page, `${W} .ac-clear`)) === "Rensa samtalet" &&
        (await text(page, `${W} .ac-send`)) === "Skicka" &&
        (await text(page, "#chat-open")) === "Stäng chatten",
        "Svenska: the widget's texts are Swedish");
  check(/Varför den föreslås/.test(await page.locator(`${W} .ac-card`).first().textContent()),
        "the cards' labels follow the language");
  await page.click('button[data-lang="en"]');
  check((await text(page, `${W} .ac-clear`)) === "Clear conversation" &&
        (await page.locator(`${W} .ac-input`).getAttribute("placeholder")).startsWith("For example"),
        "English: Clear conversation");
  await page.click('button[data-lang="fi"]');
  check((await text(page, `${W} .ac-clear`)) === "Tyhjennä keskustelu", "Suomi: Tyhjennä keskustelu");

  t.step = "clear";
  await page.click(`${W} .ac-clear`);
  check((await page.locator(`${W} .ac-log > *`).count()) === 0, "Clear conversation empties the log");
  check((await page.locator(`${W} .ac-card`).count()) === 0 && (await page.locator(`${W} .ac-suggestion`).count()) === 0,
        "no cards or quick replies remain");
  check(/tyhjennetty/.test(await text(page, `${W} .ac-status`)), "the clearing is announced");
  check((await page.evaluate(() => document.activeElement?.classList.contains("ac-input"))), "focus is on the input");
  await widgetShot(page, "chat-cleared-fi.png");
  const sent = turns.length;
  const fresh = await say(page, W, "tarvitsen vuokra-asunnon");
  check(turns.length === sent + 1 && !("state" in turns[sent]),
        "the next message starts a new conversation: the request carries no state");
  check(/Missä kunnassa asut\?/.test(await fresh.textContent()), "the bot asks for the municipality again");

  t.step = "conversation";
  check(watched.foreign.length === 0, `no request to another origin${watched.foreign.length ? ": " + watched.foreign.join(", ") : ""}`);
  check(watched.errors.length === 0, `no console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  await context.close();
}

async function crisisScenario(browser, base) {
  t.step = "crisis";
  const context = await browser.newContext({ viewport: { width: 1000, height: 1000 } });
  const page = await context.newPage();
  const watched = watch(page, base);
  await page.goto(base + "/", { waitUntil: "networkidle" });
  await openChat(page);
  const answer = await say(page, W, "haluan tappaa itseni");
  const banner = page.locator(`${W} .ac-crisis`);
  await banner.waitFor();
  check(/112/.test(await banner.textContent()) && (await banner.getAttribute("role")) === "alert",
        `the crisis banner (role=alert) names 112: ${(await banner.textContent()).trim()}`);
  check(await page.evaluate(() => {
    const root = document.querySelector("#aurora-chat");
    const b = root.querySelector(".ac-crisis"), l = root.querySelector(".ac-log"), i = root.querySelector(".ac-input");
    return !!(b.compareDocumentPosition(l) & Node.DOCUMENT_POSITION_FOLLOWING) &&
           !!(b.compareDocumentPosition(i) & Node.DOCUMENT_POSITION_FOLLOWING);
  }), "the banner comes first, before the log and the input");
  check((await page.getAttribute(`${W} .ac-112`, "href")) === "tel:112", "112 is a phone link");
  check(/112/.test(await answer.locator(".ac-text").first().textContent()), "the bot's first reply mentions 112");
  const flags = await page.locator(`${W} .ac-card`).evaluateAll((cards) => cards.map((c) => c.classList.contains("ac-card-crisis")));
  const firstOther = flags.indexOf(false);
  check(flags.length >= 1 && flags[0] && (firstOther === -1 || flags.slice(firstOther).every((f) => !f)),
        `crisis services come first (${flags.map((f) => (f ? "crisis" : "other")).join(", ")})`);
  check(flags[0] === true && /Kriisiapu/.test(await page.locator(`${W} .ac-card`).first().textContent()),
        "the first card is marked Kriisiapu");
  await widgetShot(page, "chat-crisis-fi.png");
  t.step = "axe crisis";
  await axeCheck(page, "the chat's crisis answer");

  t.step = "crisis en";
  await page.click(`${W} .ac-clear`);
  check(await banner.isHidden(), "Clear conversation also removes the crisis banner");
  await page.click('button[data-lang="en"]');
  const en = await say(page, W, "I want to kill myself");
  await banner.waitFor();
  check(/emergency number/.test(await banner.textContent()) && /112/.test(await en.textContent()),
        "in English too: the banner and a reply with 112");
  check(await page.locator(`${W} .ac-card`).first().evaluate((c) => c.classList.contains("ac-card-crisis")),
        "a crisis service comes first");
  await widgetShot(page, "chat-crisis-en.png");
  t.step = "crisis";
  const kept = await storageHolds(page, ["tappaa", "kill myself"]);
  check(kept.length === 0, "nothing of the conversation in storage");
  check(watched.foreign.length === 0, "no request to another origin");
  check(watched.errors.length === 0, `no console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  await context.close();
}

async function keyboardScenario(browser, base) {
  t.step = "keyboard";
  const context = await browser.newContext({ viewport: { width: 1000, height: 1000 } });
  const page = await context.newPage();
  const watched = watch(page, base, { allowFailedApi: true });
  const turns = watchTurns(page);
  await page.goto(base + "/", { waitUntil: "networkidle" });
  const active = () => page.evaluate(() => {
    const a = document.activeElement;
    return a ? `${a.id || ""}|${a.className || ""}|${(a.textContent || "").trim()}` : "";
  });
  let reached = false;
  for (let i = 0; i < 200 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = (await active()).startsWith("chat-open|");
  }
  check(reached, "Tab reaches the open-chat button");
  await page.keyboard.press("Enter");
  await page.locator(`${W} .aurora-chat`).waitFor();
  check((await active()).includes("ac-input"), "Enter opens the chat with focus on the input");
  await page.keyboard.press("Enter");
  check(/Kirjoita ensin viesti/.test(await text(page, `${W} .ac-status`)) && turns.length === 0,
        "Enter on an empty input asks for a message and sends nothing");
  // An API error is shown in words (the node answers 400 naming the field).
  await page.route("**/v1/conversation:turn", (route) => route.fulfill({
    status: 400, contentType: "application/json", body: JSON.stringify({ code: 3, message: "message: required" }) }),
    { times: 1 });
  await page.keyboard.type("hei");
  await page.keyboard.press("Enter");
  await page.locator(`${W} .ac-status.ac-error`).waitFor();
  check(/Palvelu vastasi virheellä \(400\): message: required/.test(await text(page, `${W} .ac-status`)),
        "an API error is shown in words");
  await page.click(`${W} .ac-clear`);
  await page.keyboard.type("tarvitsen vuokra-asunnon");
  await page.keyboard.press("Enter");
  await page.locator(`${W} .ac-suggestion`).first().waitFor({ timeout: 30_000 });
  check((await active()).includes("ac-input"), "Enter sent the message; focus stays on the input");
  let onHelsinki = false;
  for (let i = 0; i < 4 && !onHelsinki; i++) {
    await page.keyboard.press("Tab");
    onHelsinki = (await active()).endsWith("|Helsinki");
  }
  check(onHelsinki, "Tab from the input reaches the Helsinki quick reply");
  await page.keyboard.press("Enter");
  await page.locator(`${W} .ac-card`).first().waitFor({ timeout: 30_000 });
  check((await active()).includes("ac-input"), "after the quick reply, focus is back on the input");
  // Shift+Tab back into the log and its cards: a thumbs-up by keyboard.
  let onThumb = false;
  for (let i = 0; i < 80 && !onThumb; i++) {
    await page.keyboard.press("Shift+Tab");
    onThumb = await page.evaluate(() => document.activeElement?.classList.contains("ac-thumb"));
  }
  check(onThumb, "the cards' feedback buttons are reachable by keyboard");
  await page.keyboard.press("Enter");
  await page.locator(`${W} .ac-feedback-status`, { hasText: "Kiitos" }).first().waitFor();
  check(await page.evaluate(() => document.activeElement?.classList.contains("ac-thumb")),
        "focus stays on the feedback button after sending");
  // Escape-free: the clear control is a button reachable by Tab too.
  await page.focus(`${W} .ac-clear`);
  await page.keyboard.press("Enter");
  check((await page.locator(`${W} .ac-log > *`).count()) === 0, "Enter on Tyhjennä keskustelu clears the log");
  check(watched.errors.length === 0, `no console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  await context.close();
}

// The widget on an organisation's own page (another origin): two lines of HTML.
async function embedScenario(browser, base) {
  t.step = "embed";
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  const watched = watch(page, base);
  embedPage = `<!doctype html><html lang="sv"><head><meta charset="utf-8"><title>Organisationens sida</title></head>
<body><main><h1>Välkommen</h1><aurora-chat></aurora-chat></main>
<script type="module" src="${base}/chat.js"></script></body></html>`;
  await page.goto(`${EMBED_ORIGIN}/`, { waitUntil: "networkidle" });
  await page.locator("aurora-chat .aurora-chat").waitFor();
  check((await text(page, "aurora-chat .ac-clear")) === "Rensa samtalet", "the embedded widget follows the page's lang (sv)");
  check(await page.evaluate(() => getComputedStyle(document.querySelector("aurora-chat .aurora-chat")).borderTopStyle === "solid"),
        "it loaded its own stylesheet from the gateway");
  const answer = await say(page, "aurora-chat", "jag behöver en hyresbostad");
  check(/kommun/i.test(await answer.textContent()), `the gateway answered across origins: ${(await answer.textContent()).trim()}`);
  await screenshot(page, "chat-embedded-sv.png");  // the whole (small) page
  const foreign = watched.foreign.filter((u) => !u.startsWith(EMBED_ORIGIN + "/"));
  check(foreign.length === 0, "no request but to the page and the gateway");
  check(watched.errors.length === 0, `no console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  await context.close();
}

// ---- session transfer from a chat card -----------------------------------------------------

// Two young people's services of the demo organisation in Helsinki about a distinctive need, so
// that the bot asks both the municipality (two local services) and the age (two age-bound ones);
// the first one's e-service channel takes session transfers for the demo API client.
const CHAT_TRANSFER_CHANNEL_ID = "c4a7f0e2-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
const CHAT_TRANSFER_SERVICE_NAME = "Revontulikuvauksen nuorisopaja";
const CHAT_TRANSFER_URL = "https://revontulet.example/ilmoittaudu";

async function createChatTransferServices(base, credentials) {
  const basic = "Basic " + Buffer.from(`${credentials.client_id}:${credentials.client_secret}`).toString("base64");
  const create = async (name, summary, channel) => {
    const response = await fetch(`${base}/v1/services`, {
      method: "POST",
      headers: { Authorization: basic, "Content-Type": "application/json" },
      body: JSON.stringify({
        organization_id: credentials.organization_id, kind: "SERVICE_KIND_SERVICE",
        name, summary, keywords: ["revontulikuvaus", "revontulet", "valokuvaus"],
        area_type: "AREA_TYPE_LIMITED", municipality_codes: ["091"], languages: ["fi", "en"],
        target_groups: ["KR1.3"], life_areas: ["LIFE_AREA_IMPROVEMENT_OF_STRENGTHS"], channels: [channel],
      }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(`creating a transfer service: ${response.status} ${JSON.stringify(body)}`);
    return body;
  };
  const service = await create(
    { fi: CHAT_TRANSFER_SERVICE_NAME, sv: "Norrskensfotografering för unga", en: "Aurora photography for young people" },
    { fi: "Revontulikuvaus nuorille: retket, kamerat ja ohjaus.", en: "Aurora photography for young people: trips, cameras and guidance." },
    { id: CHAT_TRANSFER_CHANNEL_ID, type: "CHANNEL_TYPE_ELECTRONIC",
      name: { fi: "Pajan ilmoittautuminen", en: "Workshop sign-up" }, urls: [CHAT_TRANSFER_URL],
      session_transfer: { client_id: credentials.client_id, accepted_attributes: ["age", "municipality_code"] } });
  const other = await create(
    { fi: "Revontulikuvauksen kerho nuorille", en: "Aurora photography club for young people" },
    { fi: "Revontulikuvauksen kerho nuorille iltaisin.", en: "An evening aurora photography club for young people." },
    { type: "CHANNEL_TYPE_ELECTRONIC", name: { fi: "Kerhon sivu", en: "The club's page" },
      urls: ["https://kerho.example/revontulet"] });
  return { service, other, basic };
}

async function transferScenario(browser, base, dataDir) {
  t.step = "chat transfer setup";
  const credentials = JSON.parse(readFileSync(path.join(dataDir, "demo-credentials.json"), "utf8"));
  const { service, basic } = await createChatTransferServices(base, credentials);
  log(`created service ${service.id} with channel ${CHAT_TRANSFER_CHANNEL_ID} (client ${credentials.client_id})`);

  const context = await browser.newContext({ viewport: { width: 1000, height: 1000 } });
  const page = await context.newPage();
  const watched = watch(page, base);
  const profileCalls = [];
  page.on("request", (request) => {
    const { pathname } = new URL(request.url());
    if (/^\/v1\/(profile|dev-identity\/token)/.test(pathname)) {
      profileCalls.push({ method: request.method(), pathname, body: request.postData(),
                          authorization: request.headers().authorization });
    }
  });
  await page.goto(base + "/", { waitUntil: "networkidle" });
  await openChat(page);

  t.step = "chat transfer conversation";
  // The new services can take a moment to reach the recommender's index.
  let ask;
  for (let attempt = 0; attempt < 20; attempt++) {
    ask = await say(page, W, "revontulikuvaus");
    if (/Missä kunnassa asut\?/.test(await ask.textContent())) break;
    await page.click(`${W} .ac-clear`);
    await page.waitForTimeout(500);
  }
  check(/Missä kunnassa asut\?/.test(await ask.textContent()), "the bot asks for the municipality");
  const bots = await page.locator(`${W} .ac-bot`).count();
  await page.locator(`${W} .ac-suggestion`).filter({ hasText: "Helsinki" }).click();
  const askAge = page.locator(`${W} .ac-bot`).nth(bots);
  await askAge.waitFor({ timeout: 30_000 });
  check(/Kuinka vanha olet\?/.test(await askAge.textContent()), `the bot asks for the age: ${(await askAge.textContent()).trim()}`);
  await say(page, W, "19");
  const card = page.locator(`${W} .ac-services`).last().locator(`.ac-card[data-service-id="${service.id}"]`);
  await card.waitFor({ timeout: 30_000 });
  log(`services: ${(await page.locator(`${W} .ac-services`).last().locator(".ac-service-name").allTextContents()).join(" / ")}`);
  const button = card.locator(`button.ac-send-details[data-transfer-channel="${CHAT_TRANSFER_CHANNEL_ID}"]`);
  check((await button.textContent()).trim() === "Lähetä tietoni tälle palvelulle",
        "the card of the transfer channel has the button Lähetä tietoni tälle palvelulle");
  check((await page.locator(`${W} .ac-services`).last().locator("button.ac-send-details").count()) === 1,
        "only the card of a channel that takes transfers has the button");
  const dialog = page.locator(`${W} dialog.ac-consent`);
  check(await dialog.isHidden(), "the consent step is closed at first");

  t.step = "chat consent keyboard";
  await button.focus();
  await page.keyboard.press("Enter");
  await dialog.waitFor({ state: "visible" });
  check(await dialog.evaluate((d) => d.matches(":modal")), "the consent step opens as a modal dialog in the widget");
  const titleId = await dialog.getAttribute("aria-labelledby");
  check(!!titleId && (await page.evaluate(() => document.activeElement?.id)) === titleId,
        "focus moves to the consent step's heading, which names the dialog");
  const listed = await dialog.locator("input[type=checkbox]").evaluateAll((boxes) =>
    boxes.map((b) => ({ name: b.dataset.attribute, checked: b.checked })));
  check(JSON.stringify(listed.map((b) => b.name)) === JSON.stringify(["municipality_code", "age"]),
        `the consent step lists exactly what the channel accepts and the conversation knows (${listed.map((b) => b.name)})`);
  check(listed.every((b) => !b.checked), "every attribute starts unticked");
  const values = Object.fromEntries(await dialog.locator("[data-value-of]").evaluateAll((spans) =>
    spans.map((s) => [s.dataset.valueOf, s.textContent.trim()])));
  check(values.municipality_code === "Helsinki (091)" && values.age === "19", `the values are shown: ${JSON.stringify(values)}`);
  const recipient = (await dialog.locator(".ac-recipient").textContent()).replace(/\s+/g, " ");
  check(recipient.includes(CHAT_TRANSFER_SERVICE_NAME) && recipient.includes("Pajan ilmoittautuminen") &&
        recipient.includes(CHAT_TRANSFER_URL), `the receiving service and channel are named (${recipient})`);
  await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement?.dataset.attribute)) === "municipality_code",
        "Tab reaches the first checkbox");
  await page.keyboard.press("Space");
  check(await dialog.locator('input[data-attribute="municipality_code"]').isChecked(), "Space ticks it");
  let inside = true;
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press("Tab");
    inside &&= await page.evaluate(() => !!document.activeElement?.closest("dialog.ac-consent") ||
                                         document.activeElement === document.body);
  }
  check(inside, "Tab stays inside the modal consent step");
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  check(await page.evaluate(() => document.activeElement?.matches("button.ac-send-details")),
        "Escape closes it and focus returns to the button");

  t.step = "chat consent cancel";
  await button.click();
  await dialog.waitFor({ state: "visible" });
  check((await dialog.locator("input[type=checkbox]:checked").count()) === 0, "reopened, nothing is ticked");
  await dialog.locator('input[data-attribute="age"]').check();
  await dialog.locator(".ac-consent-cancel").click();
  await dialog.waitFor({ state: "hidden" });
  check(await page.evaluate(() => document.activeElement?.matches("button.ac-send-details")),
        "Cancel closes it and focus returns to the button");
  check(profileCalls.length === 0, `Escape and Cancel sent nothing (${profileCalls.map((c) => c.pathname).join(", ") || "no sign-in, profile or transfer request"})`);

  t.step = "chat consent confirm";
  await button.click();
  await dialog.waitFor({ state: "visible" });
  await dialog.locator(".ac-consent-confirm").click();
  check(/Valitse ainakin yksi/.test(await dialog.locator(".ac-consent-error").textContent()) && profileCalls.length === 0,
        "confirming with nothing ticked asks to choose and sends nothing");
  await dialog.locator('input[data-attribute="municipality_code"]').check();
  check(!(await dialog.locator('input[data-attribute="age"]').isChecked()), "age is left unticked");
  check(await dialog.locator(".ac-consent-error").isHidden(), "ticking one answers the request to choose (the error goes)");
  await screenshot(page, "chat-consent-fi.png", { fullPage: false });
  t.step = "axe chat consent";
  await axeCheck(page, "the chat's consent step");
  t.step = "chat consent confirm";
  await dialog.locator(".ac-consent-confirm").click();
  await dialog.locator(".ac-transfer-link").waitFor({ timeout: 15_000 });
  check((await page.evaluate(() => document.activeElement?.textContent.trim())) === "Tiedot lähetetty" &&
        (await page.evaluate(() => document.activeElement?.id)) === titleId,
        "the result is announced: focus on Tiedot lähetetty");
  const sentNames = await dialog.locator(".ac-sent-attributes li").evaluateAll((items) => items.map((li) => li.dataset.attribute));
  check(JSON.stringify(sentNames) === JSON.stringify(["municipality_code"]), `the result lists what was sent (${sentNames})`);
  const href = await dialog.locator(".ac-transfer-link").getAttribute("href");
  const link = new URL(href);
  const accessToken = link.searchParams.get("auroraai_access_token");
  check(link.origin + link.pathname === CHAT_TRANSFER_URL && /^[0-9a-f]{64}$/.test(accessToken || ""),
        `the link opens the channel with the transfer token (${link.origin}${link.pathname}?auroraai_access_token=…)`);
  await screenshot(page, "chat-consent-sent-fi.png", { fullPage: false });
  t.step = "axe chat consent sent";
  await axeCheck(page, "the chat's consent result");
  t.step = "chat consent confirm";
  await dialog.locator(".ac-consent-close").click();
  await dialog.waitFor({ state: "hidden" });
  check(await page.evaluate(() => document.activeElement?.matches("button.ac-send-details")),
        "Close returns focus to the button");
  check((await card.locator(".ac-transfer-link").getAttribute("href")) === href, "the card keeps the link to the service");
  const calls = profileCalls.map((c) => `${c.method} ${c.pathname}`);
  check(JSON.stringify(calls) === JSON.stringify(["POST /v1/dev-identity/token", "PATCH /v1/profile/attributes",
                                                  "POST /v1/profile/transfers"]),
        `signed in with the development issuer, then the profile and the transfer (${calls.join(", ")})`);
  check(JSON.stringify(JSON.parse(profileCalls[1].body)) === JSON.stringify({ attributes: { municipality_code: "091" } }),
        `only the ticked attribute went into the profile (${profileCalls[1].body})`);
  const transferBody = JSON.parse(profileCalls[2].body);
  check(transferBody.service_channel_id === CHAT_TRANSFER_CHANNEL_ID && transferBody.service_id === service.id &&
        JSON.stringify(transferBody.attribute_names) === JSON.stringify(["municipality_code"]),
        `the transfer names the channel, the service and the ticked attribute (${profileCalls[2].body})`);
  const jwt = (profileCalls[1].authorization || "").replace(/^Bearer /, "");
  check(jwt.split(".").length === 3, "the profile calls carry the development token");

  t.step = "chat redeem";
  const redeem = await fetch(`${base}/v1/profile-access/transfers:redeem`, {
    method: "POST", headers: { Authorization: basic, "Content-Type": "application/json" },
    body: JSON.stringify({ access_token: accessToken }),
  });
  const redeemed = await redeem.json();
  check(redeem.ok, `the service redeemed the token with its client credentials (${redeem.status})`);
  const received = Object.fromEntries(redeemed.attributes.map((a) => [a.name, a.value]));
  log(`received: ${JSON.stringify(received)}`);
  check(JSON.stringify(received) === JSON.stringify({ municipality_code: "091" }),
        "the service received exactly municipality_code 091 (not age)");
  check(redeemed.service_channel_id === CHAT_TRANSFER_CHANNEL_ID && redeemed.client_id === credentials.client_id,
        "for the channel and the client the directory names");

  t.step = "chat transfer storage";
  const stored = await page.evaluate(() => {
    const all = [];
    for (const store of [localStorage, sessionStorage]) {
      for (let i = 0; i < store.length; i++) all.push(store.key(i), store.getItem(store.key(i)));
    }
    return all.join("\n");
  });
  const leaked = [jwt, accessToken, "revontuli", "municipality_code", "091"].filter((w) => stored.includes(w));
  check(leaked.length === 0, `nothing of the chat or its sign-in in localStorage or sessionStorage (${leaked.length ? leaked.join(", ") : "none"})`);

  t.step = "chat transfer language";
  await page.click('button[data-lang="en"]');
  check((await button.textContent()).trim() === "Send my details to this service", "English: Send my details to this service");
  await page.click('button[data-lang="sv"]');
  check((await button.textContent()).trim() === "Skicka mina uppgifter till den här tjänsten",
        "Svenska: Skicka mina uppgifter till den här tjänsten");
  await page.click('button[data-lang="fi"]');

  t.step = "chat transfer clear";
  await page.click(`${W} .ac-clear`);
  check((await page.locator(`${W} .ac-send-details`).count()) === 0, "Clear conversation removes the cards and their links");

  t.step = "chat transfer";
  check(watched.foreign.length === 0, `no request to another origin${watched.foreign.length ? ": " + watched.foreign.join(", ") : ""}`);
  check(watched.errors.length === 0, `no console errors${watched.errors.length ? ": " + watched.errors.join("; ") : ""}`);
  await context.close();
}

// ---- main ----------------------------------------------------------------------------------

let node;
let browser;
let embedServer;
const dataDir = mkdtempSync(path.join(tmpdir(), "aurora-chat-test-"));
try {
  mkdirSync(screenshotDir, { recursive: true });
  t.step = "embed server";
  embedServer = createServer((request, response) => {
    response.writeHead(200, {
      "Content-Type": "text/html; charset=utf-8",
      // The organisation's own policy: itself and the gateway, no inline code.
      "Content-Security-Policy": `default-src 'self' ${node ? "http://127.0.0.1:" + node.httpPort : ""}`,
    });
    response.end(embedPage);
  });
  await new Promise((resolve) => embedServer.listen(0, "localhost", resolve));
  EMBED_ORIGIN = `http://localhost:${embedServer.address().port}`;
  t.step = "node";
  node = await startNode(dataDir, ["--http-cors-origins", EMBED_ORIGIN]);
  const ports = await node.ready;
  node.httpPort = ports.httpPort;
  const base = `http://127.0.0.1:${ports.httpPort}`;
  log(`aurora serving at ${base}, metrics on ${ports.metricsPort}`);
  t.step = "browser";
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  log(`chromium ${browser.version()}`);
  const only = (process.env.AURORA_WEB_SCENARIOS || "").split(",").filter(Boolean);
  const run = (name) => !only.length || only.includes(name);
  if (run("conversation")) await conversationScenario(browser, base, ports.metricsPort);
  if (run("crisis")) await crisisScenario(browser, base);
  if (run("keyboard")) await keyboardScenario(browser, base);
  if (run("embed")) await embedScenario(browser, base);
  if (run("transfer")) await transferScenario(browser, base, dataDir);
  t.step = "end";
  if (t.failures) throw new Error(`${t.failures} check(s) failed (see above)`);
  console.log("PASS: chat");
} catch (error) {
  console.error(`FAIL [${t.step}]: ${error.stack || error.message}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  if (node) await stopNode(node.child);
  embedServer?.close();
  rmSync(dataDir, { recursive: true, force: true });
}
