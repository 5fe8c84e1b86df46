// "How am I doing?": a 3X10D self-assessment, a chart per life area, the recommended service
// package and services with their explanations, and feedback on each service. Talks only to the
// node's own REST API (same origin); builds every element with the DOM API (no innerHTML, no
// inline styles: the page runs under Content-Security-Policy default-src 'self').
import { LANGUAGES, AREAS, AREA_TEXTS, MUNICIPALITIES, TEXTS } from "./i18n.js";

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
};

const $ = (id) => document.getElementById(id);
const t = (key) => TEXTS[state.lang][key] ?? TEXTS.fi[key] ?? key;

// el("p", {class: "x", lang: "en"}, "text", child, ...): an element with attributes and children.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

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

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function post(path, body, options = {}) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      ...options,
    });
  } catch {
    throw new ApiError(0, "");
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    json = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, (json && json.message) || response.statusText);
  }
  return json;
}

function errorText(error) {
  if (!(error instanceof ApiError) || error.status === 0) return [t("errNetwork")];
  return [`${t("errApi")} (${error.status}): `, apiText(error.message)];
}

async function submit(event) {
  event.preventDefault();
  const form = readForm();
  if (!form) return;
  state.answers = form.answers;
  state.pkg = null;
  state.recs = null;
  state.apiError = null;
  state.feedback.clear();
  state.loading = true;
  $("results").hidden = false;
  renderResults();
  $("results-title").focus();

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
         explanation(r), channelList(r), feedbackControls(r.service.id)))));
  }
  if (state.lang !== "en") parts.push(el("p", { class: "note" }, t("inEnglish")));
  box.replaceChildren(...parts);
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
  if (!$("results").hidden) renderResults();
  if (!$("form-errors").hidden) readForm();
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
  $("assessment").addEventListener("submit", submit);
  $("assessment").addEventListener("reset", () => {
    $("municipality-code-field").hidden = true;
    $("form-errors").hidden = true;
    showFieldError("age", "age-error", "");
    showFieldError("municipality-code", "municipality-error", "");
  });
  $("form-errors").addEventListener("click", (event) => {
    const target = event.target.closest("[data-focus]");
    if (!target) return;
    event.preventDefault();
    $(target.dataset.focus)?.focus();
  });
}

init();
