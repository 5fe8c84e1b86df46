// "How am I doing?": a 3X10D self-assessment, a chart per life area, the recommended service
// package and services with their explanations, feedback on each service, and "send my answers
// to this service" (session transfer, after an explicit consent step). Talks only to the
// node's own REST API (same origin); builds every element with the DOM API (no innerHTML, no
// inline styles: the page runs under Content-Security-Policy default-src 'self').
import { ApiError, apiClient } from "./api.js";
import { el } from "./dom.js";
import { LANGUAGES, AREAS, AREA_TEXTS, CHAT_TEXTS, MUNICIPALITIES, TEXTS } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const LANG_KEY = "aurora.how-am-i-doing.lang";
const AREA_ENUM = (key) => "LIFE_AREA_" + key.toUpperCase();

const state = {
  lang: "fi",
  answers: null,      // {area: value} of the last submitted assessment
  pkg: null,          // the last ServicePackage
  recs: null,         // the last RecommendResponse
  feedback: new Map(), // service_id -> {score, status: "sending"|"done"|"error", message}
  apiError: null,     // {status, message} of the last failed call
  loading: false,
  request: null,      // the last submitted {life_situation_meters, age?, municipality_code?}
  transfers: new Map(), // channel id -> the Transfer the API answered
  consent: null,      // the open consent step (see openConsent)
  devIssuer: null,    // whether the node offers its development sign-in (null: not asked yet)
  organisations: new Map(), // organisation id -> its name (LocalizedText)
};

const $ = (id) => document.getElementById(id);
const t = (key) => TEXTS[state.lang][key] ?? TEXTS.fi[key] ?? key;

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A localized text in the page's language, else the first language it has: [text, its language].
function pick(localized) {
  if (!localized) return ["", state.lang];
  for (const lang of [state.lang, ...LANGUAGES]) {
    if (localized[lang]) return [localized[lang], lang];
  }
  return ["", state.lang];
}

// A span holding a localized API text, marked with the language it is in.
function localizedSpan(localized, tag = "span", attrs = {}) {
  const [text, lang] = pick(localized);
  return el(tag, { ...attrs, lang: lang !== state.lang ? lang : null }, text);
}

// The API's explanatory sentences (reasons, filters, eligibility) are in English.
function apiText(text, tag = "span") {
  return el(tag, { lang: state.lang !== "en" ? "en" : null }, text);
}

// ---- the form ------------------------------------------------------------------------------

function buildAreas() {
  const container = $("areas");
  for (const area of AREAS) {
    const legend = el("legend", {},
      el("span", { class: "area-name", "data-area-t": `${area}:0` }),
      el("span", { class: "area-question", "data-area-t": `${area}:1` }));
    const options = el("div", { class: "options" });
    for (let value = 0; value <= 10; value++) {
      const id = `${area}-${value}`;
      const hint = value === 0 ? "scaleLow" : value === 10 ? "scaleHigh" : null;
      options.append(
        el("input", { type: "radio", name: area, id, value: String(value) }),
        el("label", { for: id }, String(value),
           hint ? el("span", { class: "visually-hidden", "data-t-hint": hint }) : null));
    }
    const skipId = `${area}-skip`;
    options.append(
      el("input", { type: "radio", name: area, id: skipId, value: "", checked: true }),
      el("label", { for: skipId, class: "skip-label", "data-t": "noAnswer" }));
    container.append(el("fieldset", { class: "area", "data-area": area }, legend, options));
  }
}

function buildMunicipalities() {
  const select = $("municipality");
  select.replaceChildren(el("option", { value: "" }));
  for (const [code] of MUNICIPALITIES) select.append(el("option", { value: code }));
  select.append(el("option", { value: "other" }));
  select.addEventListener("change", () => {
    $("municipality-code-field").hidden = select.value !== "other";
  });
}

function labelMunicipalities() {
  const select = $("municipality");
  const column = { fi: 1, sv: 2, en: 3 }[state.lang];
  for (const option of select.options) {
    if (option.value === "") option.textContent = t("municipalityNone");
    else if (option.value === "other") option.textContent = t("municipalityOther");
    else {
      const row = MUNICIPALITIES.find((m) => m[0] === option.value);
      option.textContent = `${row[column]} (${row[0]})`;
    }
  }
}

function showFieldError(inputId, errorId, message) {
  const input = $(inputId);
  const error = $(errorId);
  error.hidden = !message;
  error.textContent = message || "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

// Reads and validates the form: {request, answers} or null after showing the errors.
function readForm() {
  const answers = {};
  for (const area of AREAS) {
    const checked = document.querySelector(`input[name="${area}"]:checked`);
    if (checked && checked.value !== "") answers[area] = Number(checked.value);
  }
  const errors = [];
  const ageText = $("age").value.trim();
  let age;
  if (ageText !== "") {
    age = /^\d{1,3}$/.test(ageText) ? Number(ageText) : NaN;
    if (!(age >= 0 && age <= 120)) errors.push(["age", t("errAge")]);
  }
  showFieldError("age", "age-error", errors.find((e) => e[0] === "age")?.[1]);

  let municipality = $("municipality").value;
  if (municipality === "other") {
    municipality = $("municipality-code").value.trim();
    if (!/^\d{3}$/.test(municipality)) errors.push(["municipality-code", t("errMunicipality")]);
  }
  showFieldError("municipality-code", "municipality-error",
                 errors.find((e) => e[0] === "municipality-code")?.[1]);
  if (Object.keys(answers).length === 0) errors.push([`${AREAS[0]}-0`, t("errNothing")]);

  const box = $("form-errors");
  if (errors.length) {
    box.replaceChildren(
      el("h2", {}, t("errorTitle")),
      el("ul", {}, errors.map(([field, message]) =>
        el("li", {}, el("a", { href: `#${field}`, "data-focus": field }, message)))));
    box.hidden = false;
    box.focus();
    return null;
  }
  box.hidden = true;
  box.replaceChildren();

  const meters = {};
  for (const [area, value] of Object.entries(answers)) meters[area] = [value];
  const request = { life_situation_meters: meters };
  if (age !== undefined) request.age = age;
  if (municipality) request.municipality_code = municipality;
  return { request, answers };
}

// ---- the API -------------------------------------------------------------------------------

const { call, post, devSignInOffered } = apiClient(new URL(".", import.meta.url));

function errorText(error) {
  if (!(error instanceof ApiError) || error.status === 0) return [t("errNetwork")];
  return [`${t("errApi")} (${error.status}): `, apiText(error.message)];
}

async function submit(event) {
  event.preventDefault();
  const form = readForm();
  if (!form) return;
  state.answers = form.answers;
  state.request = form.request;
  state.transfers.clear();
  state.pkg = null;
  state.recs = null;
  state.apiError = null;
  state.feedback.clear();
  state.loading = true;
  $("results").hidden = false;
  renderResults();
  $("results-title").focus();
  my.message = null;
  my.error = null;
  showMyData();

  const [pkg, recs] = await Promise.allSettled([
    post("/v1/packages", { ...form.request, max_steps: 6 }),
    post("/v1/recommendations", { ...form.request, limit: 8 }),
  ]);
  state.loading = false;
  if (pkg.status === "fulfilled") state.pkg = pkg.value;
  if (recs.status === "fulfilled") state.recs = recs.value;
  const failed = [pkg, recs].find((r) => r.status === "rejected");
  state.apiError = failed ? failed.reason : null;
  renderResults();
}

async function sendFeedback(serviceId, score) {
  if (!state.recs) return;
  state.feedback.set(serviceId, { score, status: "sending" });
  renderServices();
  try {
    await post(`/v1/recommendations/${encodeURIComponent(state.recs.recommendation_id)}:feedback`,
               { services: [{ service_id: serviceId, score }] });
    state.feedback.set(serviceId, { score, status: "done" });
  } catch (error) {
    state.feedback.set(serviceId, { score: 0, status: "error", error });
  }
  renderServices();
  const group = `[data-feedback="${CSS.escape(serviceId)}"]`;
  (document.querySelector(`${group} button[aria-pressed="true"]`) ||
   document.querySelector(`${group} button`))?.focus();
}

// A click on a channel link is recorded for the recommender's learning; the link opens anyway.
function recordRedirect(serviceId, channelId, linkIndex) {
  if (!state.recs || !channelId) return;
  post(`/v1/recommendations/${encodeURIComponent(state.recs.recommendation_id)}:redirect`,
       { service_id: serviceId, channel_id: channelId, link_index: linkIndex },
       { keepalive: true }).catch(() => {});
}

// ---- rendering -----------------------------------------------------------------------------

function renderChart() {
  const answers = state.answers || {};
  const rowHeight = 34, labelWidth = 250, barMax = 300, top = 30;
  const width = labelWidth + barMax + 130;
  const height = top + AREAS.length * rowHeight + 10;
  const titleId = "chart-title", descId = "chart-desc";
  const summary = AREAS.map((area) => `${AREA_TEXTS[area][state.lang][0]}: ` +
    (area in answers ? `${answers[area]}/10` : t("unanswered"))).join("; ");
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart",
    "aria-labelledby": `${titleId} ${descId}`,
  });
  chart.append(svg("title", { id: titleId }, t("chartTitle")),
               svg("desc", { id: descId }, `${t("chartDesc")} ${summary}`));
  const axis = svg("g", { class: "axis", "aria-hidden": "true" });
  for (const tick of [0, 5, 10]) {
    const x = labelWidth + (tick / 10) * barMax;
    axis.append(svg("line", { x1: x, x2: x, y1: top - 6, y2: height - 8 }),
                svg("text", { x, y: top - 10, "text-anchor": "middle" }, tick));
  }
  chart.append(axis);
  AREAS.forEach((area, i) => {
    const y = top + i * rowHeight;
    const answered = area in answers;
    const row = svg("g", { class: answered ? "row" : "row unanswered", "data-area": area,
                           "data-value": answered ? answers[area] : "" });
    row.append(svg("text", { class: "label", x: labelWidth - 10, y: y + 21, "text-anchor": "end" },
                   AREA_TEXTS[area][state.lang][0]));
    if (answered) {
      const w = Math.max((answers[area] / 10) * barMax, 2);
      row.append(svg("rect", { class: "bar", x: labelWidth, y: y + 6, width: w, height: 22, rx: 3 }),
                 svg("text", { class: "value", x: labelWidth + w + 8, y: y + 22 }, answers[area]));
    } else {
      row.append(svg("rect", { class: "bar-empty", x: labelWidth, y: y + 6, width: barMax,
                               height: 22, rx: 3 }),
                 svg("text", { class: "value none", x: labelWidth + 10, y: y + 22 }, t("unanswered")));
    }
    chart.append(row);
  });
  $("chart").replaceChildren(el("h3", {}, t("chartTitle")), el("p", {}, t("chartDesc")), chart);
}

function needTitle(pkg, id) {
  const need = pkg.needs.find((n) => n.id === id);
  return need ? localizedSpan(need.title) : el("span", {}, id);
}

function serviceHeading(tag, service) {
  return localizedSpan(service.name, tag, { class: "service-name" });
}

function renderPackage() {
  const box = $("package");
  const pkg = state.pkg;
  if (!pkg) {
    box.replaceChildren();
    return;
  }
  const parts = [el("h3", {}, t("packageTitle"))];
  if (pkg.crisis) parts.push(el("p", { class: "crisis" }, t("crisis")));
  if (!pkg.steps.length) {
    parts.push(el("p", {}, t("packageEmpty")));
  } else {
    parts.push(el("p", {}, t("packageLead")));
    const steps = el("ol", { class: "steps" });
    for (const step of pkg.steps) {
      const service = step.service.service;
      steps.append(el("li", { class: "step", "data-step": step.step },
        el("p", { class: "step-number" }, `${t("step")} ${step.step}`),
        serviceHeading("h4", service),
        localizedSpan(service.summary, "p", { class: "summary" }),
        el("p", { class: "covers" }, `${t("covers")}: `,
           step.needs.flatMap((id, i) => (i ? [", ", needTitle(pkg, id)] : [needTitle(pkg, id)]))),
        el("h5", {}, t("reasons")),
        el("ul", { class: "reasons" }, step.reasons.map((r) => apiText(r, "li"))),
        channelList(step.service)));
    }
    parts.push(steps);
  }
  const uncovered = pkg.needs.filter((n) => !n.covered_by.length);
  if (uncovered.length) {
    parts.push(el("h4", {}, t("uncovered")),
               el("ul", { class: "uncovered" }, uncovered.map((n) =>
                 el("li", { "data-need": n.id }, localizedSpan(n.title, "strong"), ": ",
                    apiText(n.uncovered_reason)))));
  }
  box.replaceChildren(...parts);
}

function channelList(recommended) {
  const service = recommended.service;
  const items = [];
  for (const channel of service.channels || []) {
    const [name, nameLang] = pick(channel.name);
    (channel.urls || []).forEach((url, index) => {
      if (!/^https?:\/\//i.test(url)) return;
      const link = el("a", { href: url, rel: "noopener noreferrer", lang: nameLang !== state.lang ? nameLang : null },
                      name || url);
      link.addEventListener("click", () => recordRedirect(service.id, channel.id, index));
      items.push(el("li", {}, link, " ", el("span", { class: "visually-hidden" }, t("openInNew"))));
    });
    for (const phone of channel.phones || []) {
      items.push(el("li", {}, `${t("phone")}: `,
                    el("a", { href: `tel:${phone.replace(/[^+\d]/g, "")}` }, phone)));
    }
    for (const email of channel.emails || []) {
      items.push(el("li", {}, `${t("email")}: `, el("a", { href: `mailto:${email}` }, email)));
    }
  }
  // Channels often repeat a link; show each once.
  const seen = new Set();
  const unique = items.filter((li) => {
    const key = li.textContent;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }).slice(0, 6);
  if (!unique.length) return el("p", { class: "channels none" }, t("noChannels"));
  return el("div", { class: "channels" }, el("h5", {}, t("channels")), el("ul", {}, unique));
}

function explanation(recommended) {
  const x = recommended.explanation || {};
  const source = { LABEL_SOURCE_HAND: "sourceHand", LABEL_SOURCE_MAPPED: "sourceMapped",
                   LABEL_SOURCE_INFERRED: "sourceInferred" };
  const rows = [];
  const areas = (x.life_areas || []).map((a) => {
    const key = a.area.replace(/^LIFE_AREA_/, "").toLowerCase();
    const name = AREA_TEXTS[key] ? AREA_TEXTS[key][state.lang][0] : a.area;
    return el("li", {}, name, source[a.source] ? ` (${t(source[a.source])})` : "");
  });
  if (areas.length) rows.push(el("dt", {}, t("lifeAreas")), el("dd", {}, el("ul", {}, areas)));
  if (x.filters?.length) {
    rows.push(el("dt", {}, t("filters")), el("dd", {}, el("ul", {}, x.filters.map((f) => apiText(f, "li")))));
  }
  if (x.eligibility?.length) {
    rows.push(el("dt", {}, t("eligibility")),
              el("dd", {}, el("ul", {}, x.eligibility.map((e) => apiText(e, "li")))));
  }
  return el("div", { class: "why" }, el("h5", {}, t("whyTitle")), el("dl", {}, rows));
}

// A thumb drawn in SVG (no emoji font is needed), pointing down for negative feedback.
function thumbIcon(down) {
  const icon = svg("svg", { viewBox: "0 0 24 24", width: 18, height: 18, class: "thumb-icon",
                            "aria-hidden": "true", focusable: "false" });
  const hand = svg("g", down ? { transform: "rotate(180 12 12)" } : {});
  hand.append(svg("rect", { x: 2, y: 10, width: 4, height: 11, rx: 1 }),
              svg("path", { d: "M8 10 12 3c1.5 0 2.5 1 2 3l-1 3h6c1.5 0 2.5 1.5 2 3l-2 7c-.4 " +
                               "1.3-1.4 2-2.7 2H8Z" }));
  icon.append(hand);
  return icon;
}

function feedbackControls(serviceId) {
  const fb = state.feedback.get(serviceId);
  const done = fb && fb.status === "done";
  const busy = fb && fb.status === "sending";
  const button = (score, key) => {
    const b = el("button", { type: "button", class: "thumb", "data-score": score,
                             "aria-pressed": fb && fb.score === score ? "true" : "false",
                             "aria-disabled": done || busy ? "true" : null },
                 thumbIcon(score < 0), " ", t(key));
    b.addEventListener("click", () => {
      const current = state.feedback.get(serviceId);
      if (!current || current.status === "error") sendFeedback(serviceId, score);
    });
    return b;
  };
  const status = el("span", { class: "feedback-status", role: "status",
                              "data-feedback-status": serviceId });
  if (done) status.append(t("thanks"));
  if (fb && fb.status === "error") {
    status.classList.add("error");
    status.append(...errorText(fb.error));
  }
  const group = el("div", { class: "feedback", role: "group", "data-feedback": serviceId,
                            "aria-label": t("helpful") },
                   el("span", { class: "feedback-q", "aria-hidden": "true" }, t("helpful")),
                   button(1, "thumbsUp"), button(-1, "thumbsDown"), status);
  return group;
}

function renderServices() {
  const box = $("services");
  const recs = state.recs;
  if (!recs) {
    box.replaceChildren();
    return;
  }
  const parts = [el("h3", {}, t("servicesTitle"))];
  if (recs.crisis) parts.push(el("p", { class: "crisis" }, t("crisis")));
  if (!recs.services.length) parts.push(el("p", {}, t("servicesEmpty")));
  else {
    parts.push(el("ul", { class: "services" }, recs.services.map((r) =>
      el("li", { class: "service", "data-service-id": r.service.id },
         serviceHeading("h4", r.service),
         localizedSpan(r.service.summary, "p", { class: "summary" }),
         explanation(r), channelList(r), transferControls(r.service),
         feedbackControls(r.service.id)))));
  }
  if (state.lang !== "en") parts.push(el("p", { class: "note" }, t("inEnglish")));
  box.replaceChildren(...parts);
}

// ---- session transfer: "send my answers to this service" ------------------------------------
//
// A channel whose directory entry has `session_transfer` takes a person's attributes. The
// consent step (a modal <dialog>) names the organisation, service and channel and lists, each
// with its own checkbox (all unchecked: nothing goes unless the person ticks it), exactly the
// attributes the channel accepts and the person gave. On confirm, with the person signed in:
// PATCH /v1/profile/attributes (the ticked ones), POST /v1/profile/transfers (the same names),
// and the link the API answers is shown. Cancel sends nothing.

const TOKEN_KEY = "aurora.how-am-i-doing.token";
const ATTRIBUTE_ORDER = ["life_situation_meters", "age", "municipality_code"];
const ATTRIBUTE_LABELS = { life_situation_meters: "attrLife", age: "attrAge",
                           municipality_code: "attrMunicipality" };

// The person's token (development sign-in), kept only in this tab's sessionStorage.
function personToken() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
    if (saved && saved.token && saved.expires > Date.now() + 30_000) return saved.token;
  } catch {
    // Storage off or unreadable: not signed in.
  }
  return memoryToken && memoryToken.expires > Date.now() + 30_000 ? memoryToken.token : null;
}
let memoryToken = null;

function keepToken(token, expiresIn) {
  memoryToken = { token, expires: Date.now() + expiresIn * 1000 };
  try {
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(memoryToken));
  } catch {
    // Kept in memory only.
  }
}

function forgetToken() {
  memoryToken = null;
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Nothing kept.
  }
}

function transferChannels(service) {
  return (service.channels || []).filter((c) => c.id && c.session_transfer &&
    (c.session_transfer.accepted_attributes || []).length);
}

// What the person gave that the channel accepts, in a fixed order: [{name, value}].
function offeredAttributes(channel) {
  const accepted = new Set(channel.session_transfer.accepted_attributes);
  const request = state.request || {};
  return ATTRIBUTE_ORDER.filter((name) => accepted.has(name) && request[name] !== undefined)
    .map((name) => ({ name, value: request[name] }));
}

function attributeLabel(name) {
  return ATTRIBUTE_LABELS[name] ? t(ATTRIBUTE_LABELS[name]) : name;
}

function attributeValueText(name, value) {
  if (name === "life_situation_meters") {
    return AREAS.filter((area) => area in value)
      .map((area) => `${AREA_TEXTS[area][state.lang][0]} ${value[area].join(", ")}/10`).join("; ");
  }
  if (name === "municipality_code") {
    const row = MUNICIPALITIES.find((m) => m[0] === value);
    return row ? `${row[{ fi: 1, sv: 2, en: 3 }[state.lang]]} (${value})` : String(value);
  }
  return String(value);
}

function transferControls(service) {
  const channels = transferChannels(service);
  if (!channels.length) return null;
  return el("div", { class: "transfer" }, channels.map((channel) => {
    const [channelName] = pick(channel.name);
    const button = el("button", { type: "button", class: "send-answers",
                                  "data-transfer-channel": channel.id },
                      t("sendAnswers"),
                      channels.length > 1 && channelName ? ` (${channelName})` : null);
    button.addEventListener("click", () => openConsent(service, channel));
    const sent = state.transfers.get(channel.id);
    const parts = [button];
    if (sent) parts.push(transferResult(sent, "p"));
    return el("div", { class: "transfer-channel" }, parts);
  }));
}

// The link of a made transfer (or why there is none).
function transferResult(result, tag) {
  if (!result.access_token || !/^https?:\/\//i.test(result.redirect_url || "")) {
    return el(tag, { class: "transfer-result" }, t("sentNoLink"));
  }
  const time = new Date(result.expire_time);
  const hhmm = isNaN(time) ? "" : time.toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit" });
  return el(tag, { class: "transfer-result" },
            el("a", { href: result.redirect_url, class: "transfer-link", rel: "noopener noreferrer" },
               t("openService")),
            " ", t("validUntil").replace("{time}", hhmm));
}

async function organisationName(id) {
  if (!id) return null;
  if (!state.organisations.has(id)) {
    try {
      const org = await call("GET", `/v1/organizations/${encodeURIComponent(id)}`);
      state.organisations.set(id, org.name);
    } catch {
      return null;
    }
  }
  return state.organisations.get(id);
}

async function openConsent(service, channel) {
  state.devIssuer = await devSignInOffered();
  state.consent = {
    service, channel, phase: "choose", checked: new Set(), error: null, result: null,
    organisation: await organisationName(service.organization_id),
  };
  renderConsent();
  const dialog = $("consent");
  if (!dialog.open) dialog.showModal();
  $("consent-title").focus();
}

function consentFact(key, ...value) {
  return [el("dt", {}, t(key)), el("dd", {}, ...value)];
}

function renderConsent() {
  const c = state.consent;
  const dialog = $("consent");
  if (!c) {
    dialog.replaceChildren();
    return;
  }
  if (c.phase === "done") {
    const r = c.result;
    dialog.replaceChildren(
      el("h2", { id: "consent-title", tabindex: "-1" }, t("sentTitle")),
      el("p", {}, `${t("sentTo")}: `),
      el("ul", { class: "sent-attributes" },
         (r.attributes || []).map((name) => el("li", { "data-attribute": name }, attributeLabel(name)))),
      el("dl", { class: "recipient" },
         consentFact("organisation", c.organisation ? localizedSpan(c.organisation) : c.service.organization_id),
         consentFact("service", localizedSpan(c.service.name)),
         consentFact("channel", localizedSpan(c.channel.name))),
      transferResult(r, "p"),
      el("div", { class: "actions" },
         el("button", { type: "button", id: "consent-close", class: "primary" }, t("close"))));
    $("consent-close").addEventListener("click", () => dialog.close());
    return;
  }

  const offered = offeredAttributes(c.channel);
  const signedIn = !!personToken();
  const busy = c.phase === "sending";
  const [url] = (c.channel.urls || []).filter((u) => /^https?:\/\//i.test(u));
  const facts = el("dl", { class: "recipient" },
    consentFact("organisation", c.organisation ? localizedSpan(c.organisation) : c.service.organization_id),
    consentFact("service", localizedSpan(c.service.name)),
    consentFact("channel", localizedSpan(c.channel.name), url ? el("span", { class: "url" }, ` (${url})`) : null));

  let choices;
  if (!offered.length) {
    choices = el("p", {}, t("nothingToSend"));
  } else {
    choices = el("fieldset", { class: "attributes" }, el("legend", {}, t("chooseAttributes")),
      offered.map(({ name, value }) => {
        const id = `consent-attr-${name}`;
        const box = el("input", { type: "checkbox", id, "data-attribute": name,
                                  checked: c.checked.has(name), disabled: busy });
        box.addEventListener("change", () => {
          if (box.checked) c.checked.add(name);
          else c.checked.delete(name);
        });
        return el("div", { class: "check" }, box,
                  el("label", { for: id }, el("strong", {}, attributeLabel(name)), ": ",
                     el("span", { class: "attr-value", "data-value-of": name },
                        attributeValueText(name, value))));
      }));
  }

  let signIn;
  if (signedIn) signIn = el("p", { class: "signed-in" }, t("signedIn"));
  else if (state.devIssuer) {
    const button = el("button", { type: "button", id: "consent-signin", disabled: busy }, t("signInDev"));
    button.addEventListener("click", signInDev);
    signIn = el("div", { class: "signin" }, el("p", {}, t("signInNeeded")), button,
                el("p", { class: "note" }, t("signInDevNote")));
  } else {
    signIn = el("p", { class: "signin" }, t("signInUnavailable"));
  }

  const error = el("div", { id: "consent-error", class: "errors", role: "alert", tabindex: "-1",
                            hidden: !c.error }, ...(c.error || []));
  const confirm = el("button", { type: "button", id: "consent-confirm", class: "primary",
                                 disabled: busy || !offered.length }, busy ? t("sending") : t("confirmSend"));
  confirm.addEventListener("click", confirmTransfer);
  const cancel = el("button", { type: "button", id: "consent-cancel", disabled: busy }, t("cancel"));
  cancel.addEventListener("click", () => dialog.close());

  dialog.replaceChildren(
    el("h2", { id: "consent-title", tabindex: "-1" }, t("sendTitle")),
    el("p", {}, t("sendLead")),
    el("h3", {}, t("recipient")), facts,
    choices,
    el("p", { class: "note" }, t("sendHow")),
    signIn, error,
    el("div", { class: "actions" }, confirm, cancel),
    el("p", { class: "status", role: "status" }, busy ? t("sending") : ""));
}

async function signInDev() {
  const c = state.consent;
  try {
    const subject = "kehitys-" + Array.from(crypto.getRandomValues(new Uint8Array(8)),
                                            (b) => b.toString(16).padStart(2, "0")).join("");
    const answer = await post("/v1/dev-identity/token", { subject, lifetime_seconds: 3600 });
    keepToken(answer.access_token, answer.expires_in || 900);
    c.error = null;
    my.history = null;
    if (!$("mydata").hidden) loadHistory();
  } catch (error) {
    c.error = errorText(error);
  }
  renderConsent();
  (c.error ? $("consent-error") : $("consent-confirm"))?.focus();
}

async function confirmTransfer() {
  const c = state.consent;
  if (!c || c.phase !== "choose") return;
  const chosen = offeredAttributes(c.channel).filter((a) => c.checked.has(a.name));
  const token = personToken();
  if (!chosen.length || !token) {
    c.error = [t(!chosen.length ? "chooseOne" : "signInFirst")];
    renderConsent();
    (chosen.length ? $("consent-signin") : document.querySelector("#consent input[type=checkbox]") ||
     $("consent-error"))?.focus();
    return;
  }
  c.phase = "sending";
  c.error = null;
  renderConsent();
  try {
    await call("PATCH", "/v1/profile/attributes",
               { attributes: Object.fromEntries(chosen.map((a) => [a.name, a.value])) }, { token });
    c.result = await call("POST", "/v1/profile/transfers", {
      service_channel_id: c.channel.id, service_id: c.service.id,
      attribute_names: chosen.map((a) => a.name),
    }, { token });
    state.transfers.set(c.channel.id, c.result);
    c.phase = "done";
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forgetToken();
      c.error = [t("sessionExpired")];
    } else {
      c.error = errorText(error);
    }
    c.phase = "choose";
  }
  renderConsent();
  $(c.phase === "done" ? "consent-title" : "consent-error").focus();
}

// Closing (Cancel, Close, Escape) sends nothing; focus goes back to the button that opened it.
function consentClosed() {
  const c = state.consent;
  state.consent = null;
  renderConsent();
  if (!c) return;
  renderServices();
  document.querySelector(`button[data-transfer-channel="${CSS.escape(c.channel.id)}"]`)?.focus();
}

// ---- my data: keep the assessment, earlier assessments per area, export, delete -------------
//
// With the person signed in (the same development sign-in as the consent step), "Keep this
// assessment" reads the profile, appends {date, meters} to life_situation_history (the 100
// newest kept) and writes it back with life_situation_meters. The history is shown as one table
// per life area with the dates as columns (never a total). Export downloads GET
// /v1/profile:export as a JSON file; Delete (after a confirmation) is DELETE /v1/profile.

const HISTORY_MAX = 100;
const my = {
  history: null,     // the kept assessments (null: not read yet)
  phase: null,       // null | "loading" | "keeping" | "exporting" | "confirm-delete" | "deleting"
  message: null,     // [key, {date}] of the last success
  error: null,       // the last error, as text parts
  keptFor: null,     // the request that was kept (not kept twice)
  exportUrl: null,   // the object URL of the last export
  deleted: false,
};

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function dateText(iso) {
  const d = new Date(`${iso}T12:00:00`);
  return isNaN(d) ? iso : d.toLocaleDateString(state.lang, { year: "numeric", month: "numeric", day: "numeric" });
}

function historyOf(profile) {
  const attr = (profile.attributes || []).find((a) => a.name === "life_situation_history");
  return Array.isArray(attr?.value) ? attr.value.filter((e) => e && e.date && e.meters) : [];
}

function myFailed(error) {
  if (error instanceof ApiError && error.status === 401) {
    forgetToken();
    my.error = [t("sessionExpired")];
  } else {
    my.error = errorText(error);
  }
}

async function loadHistory() {
  const token = personToken();
  if (!token) {
    renderMyData();
    return;
  }
  my.phase = "loading";
  renderMyData();
  try {
    my.history = historyOf(await call("GET", "/v1/profile", undefined, { token }));
  } catch (error) {
    myFailed(error);
  }
  my.phase = null;
  renderMyData();
}

async function myDataSignIn() {
  try {
    const subject = "kehitys-" + Array.from(crypto.getRandomValues(new Uint8Array(8)),
                                            (b) => b.toString(16).padStart(2, "0")).join("");
    const answer = await post("/v1/dev-identity/token", { subject, lifetime_seconds: 3600 });
    keepToken(answer.access_token, answer.expires_in || 900);
    my.error = null;
    my.deleted = false;
  } catch (error) {
    my.error = errorText(error);
  }
  await loadHistory();
  $(my.error ? "mydata-error" : "keep-assessment")?.focus();
}

async function keepAssessment() {
  const token = personToken();
  const request = state.request;
  if (!request || my.phase) return;
  if (!token) {
    my.error = [t("signInFirst")];
    renderMyData();
    $("mydata-error")?.focus();
    return;
  }
  if (my.keptFor === request) {
    my.message = ["keptAlready"];
    renderMyData();
    return;
  }
  const meters = request.life_situation_meters;
  my.phase = "keeping";
  my.error = null;
  my.message = null;
  renderMyData();
  try {
    const history = historyOf(await call("GET", "/v1/profile", undefined, { token }));
    const date = today();
    history.push({ date, meters });
    const kept = history.slice(-HISTORY_MAX);
    const profile = await call("PATCH", "/v1/profile/attributes",
      { attributes: { life_situation_history: kept, life_situation_meters: meters } }, { token });
    my.history = historyOf(profile);
    if (!my.history.length) my.history = kept;
    my.keptFor = request;
    my.deleted = false;
    my.message = ["kept", { date: dateText(date) }];
  } catch (error) {
    myFailed(error);
  }
  my.phase = null;
  renderMyData();
  $(my.error ? "mydata-error" : "keep-assessment")?.focus();
}

async function exportData() {
  const token = personToken();
  if (!token || my.phase) return;
  my.phase = "exporting";
  my.error = null;
  renderMyData();
  try {
    const data = await call("GET", "/v1/profile:export", undefined, { token });
    if (my.exportUrl) URL.revokeObjectURL(my.exportUrl);
    my.exportUrl = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)],
                                                 { type: "application/json" }));
  } catch (error) {
    myFailed(error);
  }
  my.phase = null;
  renderMyData();
  $(my.error ? "mydata-error" : "export-link")?.focus();
}

async function deleteData() {
  const token = personToken();
  if (!token || my.phase !== "confirm-delete") return;
  my.phase = "deleting";
  my.error = null;
  renderMyData();
  try {
    await call("DELETE", "/v1/profile", undefined, { token });
    const profile = await call("GET", "/v1/profile", undefined, { token });
    my.history = historyOf(profile);
    my.deleted = (profile.attributes || []).length === 0;
    my.keptFor = null;
    my.message = null;
    if (my.exportUrl) URL.revokeObjectURL(my.exportUrl);
    my.exportUrl = null;
  } catch (error) {
    myFailed(error);
  }
  my.phase = null;
  renderMyData();
  $(my.error ? "mydata-error" : "delete-done")?.focus();
}

function historyTable(history) {
  const areas = AREAS.filter((area) => history.some((e) => Array.isArray(e.meters[area])));
  const seen = new Map();
  const heads = history.map((entry) => {
    const n = (seen.get(entry.date) || 0) + 1;
    seen.set(entry.date, n);
    return el("th", { scope: "col", "data-date": entry.date },
              el("time", { datetime: entry.date }, dateText(entry.date)), n > 1 ? ` (${n})` : null);
  });
  const last = (values) => (Array.isArray(values) && values.length ? values[values.length - 1] : null);
  const rows = areas.map((area) => {
    const values = history.map((entry) => last(entry.meters[area]));
    const known = values.filter((v) => v !== null);
    const change = known.length >= 2 ? known[known.length - 1] - known[0] : null;
    return el("tr", { "data-area": area },
      el("th", { scope: "row" }, AREA_TEXTS[area][state.lang][0]),
      values.map((v, i) => el("td", { "data-date": history[i].date, "data-value": v ?? "" },
        v === null ? [el("span", { "aria-hidden": "true" }, "–"),
                      el("span", { class: "visually-hidden" }, t("noValue"))] : String(v),
        v === null ? null : el("span", { class: "meter", "aria-hidden": "true" },
                               el("span", { class: `meter-fill m${v}` })))),
      el("td", { class: "change" }, change === null ? "" : change > 0 ? `+${change}` : change < 0 ? `−${-change}` : "±0"));
  });
  return el("div", { class: "history-scroll", tabindex: "0", role: "region", "aria-labelledby": "history-title" },
    el("table", { id: "history-table" },
       el("caption", {}, t("historyCaption")),
       el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("historyArea")), heads,
                          el("th", { scope: "col" }, t("historyChange")))),
       el("tbody", {}, rows)));
}

function renderMyData() {
  const body = $("mydata-body");
  if (!body) return;
  const token = personToken();
  const busy = !!my.phase && my.phase !== "confirm-delete";
  const parts = [];
  const status = my.phase && my.phase !== "confirm-delete"
    ? t({ loading: "historyLoading", keeping: "keeping", exporting: "exporting", deleting: "deleting" }[my.phase])
    : my.message ? t(my.message[0]).replace("{date}", my.message[1]?.date ?? "") : "";

  if (!token) {
    parts.push(el("p", {}, t("myDataSignIn")));
    if (state.devIssuer) {
      const button = el("button", { type: "button", id: "mydata-signin" }, t("signInDev"));
      button.addEventListener("click", myDataSignIn);
      parts.push(el("div", { class: "signin" }, button, el("p", { class: "note" }, t("signInDevNote"))));
    } else if (state.devIssuer === false) {
      parts.push(el("p", {}, t("signInUnavailable")));
    }
  } else {
    parts.push(el("p", { class: "signed-in" }, t("signedIn")));
  }

  const keep = el("button", { type: "button", id: "keep-assessment", class: "primary",
                              disabled: busy || !state.request }, t("keepButton"));
  keep.addEventListener("click", keepAssessment);
  parts.push(el("h3", {}, t("keepTitle")), el("p", { id: "keep-what" }, t("keepWhat")),
             el("div", { class: "actions" }, keep));
  parts.push(el("p", { id: "mydata-status", class: "status", role: "status" }, status));
  parts.push(el("div", { id: "mydata-error", class: "errors", role: "alert", tabindex: "-1",
                         hidden: !my.error }, ...(my.error ? [el("p", {}, ...my.error)] : [])));

  if (token) {
    parts.push(el("h3", { id: "history-title" }, t("historyTitle")));
    if (my.history && my.history.length) parts.push(historyTable(my.history));
    else if (my.history) parts.push(el("p", { id: "history-empty" }, t("historyEmpty")));

    parts.push(el("h3", {}, t("dataTitle")));
    const exportButton = el("button", { type: "button", id: "export-data", disabled: busy }, t("exportButton"));
    exportButton.addEventListener("click", exportData);
    const deleteButton = el("button", { type: "button", id: "delete-data", class: "danger",
                                        disabled: busy || my.phase === "confirm-delete" }, t("deleteButton"));
    deleteButton.addEventListener("click", () => {
      my.phase = "confirm-delete";
      my.error = null;
      renderMyData();
      $("delete-confirm")?.focus();
    });
    parts.push(el("div", { class: "actions" }, exportButton, deleteButton));
    if (my.exportUrl) {
      parts.push(el("p", {}, el("a", { id: "export-link", href: my.exportUrl,
                                       download: `aurora-profile-${today()}.json` }, t("exportLink"))));
    }
    if (my.phase === "confirm-delete" || my.phase === "deleting") {
      const yes = el("button", { type: "button", id: "delete-confirm", class: "danger",
                                 disabled: my.phase === "deleting" }, t("deleteConfirm"));
      yes.addEventListener("click", deleteData);
      const no = el("button", { type: "button", id: "delete-cancel", disabled: my.phase === "deleting" }, t("cancel"));
      no.addEventListener("click", () => {
        my.phase = null;
        renderMyData();
        $("delete-data")?.focus();
      });
      parts.push(el("div", { id: "delete-confirmation", class: "confirm", role: "group",
                             "aria-labelledby": "delete-question" },
                    el("p", { id: "delete-question" }, t("deleteQuestion")),
                    el("div", { class: "actions" }, yes, no)));
    }
    if (my.deleted) {
      parts.push(el("p", { id: "delete-done", class: "done", tabindex: "-1" }, t("deleted")));
    }
  }
  body.replaceChildren(...parts);
}

async function showMyData() {
  $("mydata").hidden = false;
  state.devIssuer = await devSignInOffered();
  if (personToken() && my.history === null) await loadHistory();
  else renderMyData();
}

function renderResults() {
  const status = $("status");
  status.textContent = state.loading ? t("loading") : "";
  const errorBox = $("api-error");
  if (state.apiError) {
    errorBox.replaceChildren(el("p", {}, ...errorText(state.apiError)));
    errorBox.hidden = false;
  } else {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  }
  if (state.answers) renderChart();
  renderPackage();
  renderServices();
}

// ---- language ------------------------------------------------------------------------------

function applyLanguage(lang) {
  state.lang = LANGUAGES.includes(lang) ? lang : "fi";
  try {
    sessionStorage.setItem(LANG_KEY, state.lang);
  } catch {
    // Storage may be off; the choice then lasts until the page is reloaded.
  }
  document.documentElement.lang = state.lang;
  document.title = `${t("title")} – AuroraAI`;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-hint]")) {
    node.textContent = ` (${t(node.dataset.tHint)})`;
  }
  for (const node of document.querySelectorAll("[data-area-t]")) {
    const [area, index] = node.dataset.areaT.split(":");
    node.textContent = AREA_TEXTS[area][state.lang][Number(index)];
  }
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
  }
  labelMunicipalities();
  labelChatButton();
  if (!$("results").hidden) renderResults();
  if (!$("mydata").hidden) renderMyData();
  if (!$("form-errors").hidden) readForm();
}

// ---- the chat widget (chat.js mounts it into #aurora-chat; it follows <html lang>) ----------

function labelChatButton() {
  const button = $("chat-open");
  const open = button.getAttribute("aria-expanded") === "true";
  button.textContent = CHAT_TEXTS[state.lang][open ? "chatClose" : "chatOpen"];
  button.closest("aside").setAttribute("aria-label", CHAT_TEXTS[state.lang].chatTitle);
}

function toggleChat() {
  const button = $("chat-open");
  const open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(open));
  $("aurora-chat").hidden = !open;
  labelChatButton();
  if (open) $("aurora-chat").querySelector("input")?.focus();
}

function init() {
  buildAreas();
  buildMunicipalities();
  let lang = "fi";
  try {
    lang = sessionStorage.getItem(LANG_KEY) || "fi";
  } catch {
    lang = "fi";
  }
  applyLanguage(lang);
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => applyLanguage(button.dataset.lang));
  }
  $("chat-open").addEventListener("click", toggleChat);
  $("assessment").addEventListener("submit", submit);
  $("assessment").addEventListener("reset", () => {
    $("municipality-code-field").hidden = true;
    $("form-errors").hidden = true;
    showFieldError("age", "age-error", "");
    showFieldError("municipality-code", "municipality-error", "");
  });
  const dialog = $("consent");
  dialog.addEventListener("cancel", (event) => {
    if (state.consent?.phase === "sending") event.preventDefault();  // wait for the answer
  });
  dialog.addEventListener("close", consentClosed);
  $("form-errors").addEventListener("click", (event) => {
    const target = event.target.closest("[data-focus]");
    if (!target) return;
    event.preventDefault();
    $(target.dataset.focus)?.focus();
  });
}

init();
