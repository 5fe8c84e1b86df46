// The AuroraAI chat widget: a service-finding chatbot speaking the node's conversation API
// (POST /v1/conversation:turn). Self-contained: it loads its own stylesheet (chat.css) and texts
// (i18n.js) from where this file is served, and calls the API of that same gateway.
//
// Embedding on an organisation's own page (two lines):
//
//   <div id="aurora-chat"></div>
//   <script type="module" src="https://<gateway>/chat.js"></script>
//
// or, anywhere on the page, the custom element (any number of them):
//
//   <aurora-chat language="sv"></aurora-chat>
//   <script type="module" src="https://<gateway>/chat.js"></script>
//
// The widget speaks the language of the `language` attribute if given, else the page's
// <html lang> (fi, sv or en; anything else: Finnish), and follows later changes of either.
// For another origin than the gateway's own, the gateway must allow that origin
// (`aurora serve --http-cors-origins https://www.example.fi`): the module script and the API
// calls are cross-origin requests. A page with a Content-Security-Policy must allow the gateway
// in script-src, style-src and connect-src. The widget sends no cookies and runs no inline code.
//
// Privacy: the conversation lives only in this object's memory (no cookies, localStorage or
// sessionStorage); the node keeps nothing of it either (the client sends back the `state` of the
// previous answer). "Clear conversation" and closing the tab forget everything.
import { ApiError, apiClient } from "./api.js";
import { el } from "./dom.js";
import { AREA_TEXTS, CHAT_TEXTS, CHAT_TRANSFER_TEXTS, LANGUAGES, TEXTS } from "./i18n.js";

// The attributes a conversation can know (ConversationState), in the order they are listed.
const TRANSFER_ATTRIBUTES = [
  { name: "municipality_code", label: "attrMunicipality" },
  { name: "age", label: "attrAge" },
];

const BASE = new URL(".", import.meta.url);
const MAX_MESSAGE = 500;
const SVG_NS = "http://www.w3.org/2000/svg";
let widgetCount = 0;

function loadStyles() {
  const href = new URL("chat.css", BASE).href;
  if ([...document.querySelectorAll('link[rel="stylesheet"]')].some((l) => l.href === href)) return;
  document.head.append(el("link", { rel: "stylesheet", href }));
}

const { call, post, devSignInOffered } = apiClient(BASE);

function thumbIcon(down) {
  const icon = document.createElementNS(SVG_NS, "svg");
  for (const [k, v] of Object.entries({ viewBox: "0 0 24 24", width: 18, height: 18,
    class: "ac-thumb-icon", "aria-hidden": "true", focusable: "false" })) icon.setAttribute(k, v);
  const hand = document.createElementNS(SVG_NS, "g");
  if (down) hand.setAttribute("transform", "rotate(180 12 12)");
  const rect = document.createElementNS(SVG_NS, "rect");
  for (const [k, v] of Object.entries({ x: 2, y: 10, width: 4, height: 11, rx: 1 })) rect.setAttribute(k, v);
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", "M8 10 12 3c1.5 0 2.5 1 2 3l-1 3h6c1.5 0 2.5 1.5 2 3l-2 7c-.4 1.3-1.4 2-2.7 2H8Z");
  hand.append(rect, path);
  icon.append(hand);
  return icon;
}

// One widget. Everything it knows is in `this.turns` and `this.state`, in memory only.
class ChatWidget {
  constructor(host) {
    this.host = host;
    this.id = `aurora-chat-${++widgetCount}`;
    this.turns = [];          // [{role: "user"|"bot", text, lang, response?}]
    this.state = null;        // the ConversationState of the last answer (null: a new conversation)
    this.suggestions = [];
    this.crisis = false;
    this.busy = false;
    this.feedback = new Map(); // `${recommendation_id}/${service_id}` -> {score, status, error}
    this.transfers = new Map(); // `${recommendation_id}/${channel_id}` -> the Transfer the API answered
    this.consent = null;        // the open consent step of a session transfer (see openConsent)
    this.token = null;          // {token, expires}: the person's development sign-in, in memory only
    this.devIssuer = null;      // whether the node offers the development sign-in (null: not asked)
    this.lang = this.pickLanguage();
    this.build();
    this.relabel();
    new MutationObserver(() => this.languageChanged())
      .observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
    new MutationObserver(() => this.languageChanged())
      .observe(host, { attributes: true, attributeFilter: ["language"] });
  }

  pickLanguage() {
    const wanted = (this.host.getAttribute("language") || document.documentElement.lang || "fi")
      .slice(0, 2).toLowerCase();
    return LANGUAGES.includes(wanted) ? wanted : "fi";
  }

  t(key) {
    return CHAT_TEXTS[this.lang][key] ?? TEXTS[this.lang][key] ?? CHAT_TEXTS.fi[key] ?? TEXTS.fi[key] ?? key;
  }

  // ---- building -----------------------------------------------------------------------------

  build() {
    const id = this.id;
    this.titleEl = el("h2", { id: `${id}-title`, class: "ac-title", "data-ct": "chatTitle" });
    this.clearButton = el("button", { type: "button", class: "ac-clear", "data-ct": "chatClear" });
    this.clearButton.addEventListener("click", () => this.clear());
    this.crisisBox = el("div", { class: "ac-crisis", role: "alert", hidden: true });
    this.log = el("div", { class: "ac-log", role: "log", "aria-live": "polite", tabindex: "0",
                           id: `${id}-log`, "data-ct-label": "chatLog" });
    this.intro = el("p", { class: "ac-intro", "data-ct": "chatIntro" });
    this.quick = el("div", { class: "ac-quick", role: "group", "data-ct-label": "chatQuick", hidden: true });
    this.input = el("input", { id: `${id}-input`, class: "ac-input", type: "text", autocomplete: "off",
                               maxlength: String(MAX_MESSAGE), "data-ct-placeholder": "chatPlaceholder",
                               "aria-describedby": `${id}-status` });
    this.sendButton = el("button", { type: "submit", class: "ac-send", "data-ct": "chatSend" });
    this.form = el("form", { class: "ac-form", novalidate: true },
                   el("label", { for: `${id}-input`, class: "ac-label", "data-ct": "chatInput" }),
                   el("div", { class: "ac-row" }, this.input, this.sendButton));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(this.input.value);
    });
    this.status = el("p", { id: `${id}-status`, class: "ac-status", role: "status" });
    this.root = el("section", { class: "aurora-chat", "aria-labelledby": `${id}-title` },
      el("div", { class: "ac-head" }, this.titleEl, this.clearButton),
      el("p", { class: "ac-privacy", "data-ct": "chatPrivacy" }),
      this.crisisBox, this.intro, this.log, this.form, this.quick, this.status);
    // The consent step of a session transfer: a modal dialog, filled by renderConsent.
    this.dialog = el("dialog", { class: "ac-consent", id: `${id}-consent`,
                                 "aria-labelledby": `${id}-consent-title` });
    this.dialog.addEventListener("close", () => this.consentClosed());
    this.root.append(this.dialog);
    this.host.replaceChildren(this.root);
  }

  tt(key) {
    return CHAT_TRANSFER_TEXTS[this.lang][key] ?? CHAT_TRANSFER_TEXTS.fi[key] ?? key;
  }

  relabel() {
    this.root.lang = this.lang;
    for (const node of this.root.querySelectorAll("[data-ct]")) node.textContent = this.t(node.dataset.ct);
    for (const node of this.root.querySelectorAll("[data-ct-label]")) {
      node.setAttribute("aria-label", this.t(node.dataset.ctLabel));
    }
    this.input.placeholder = this.t("chatPlaceholder");
    this.renderCrisis();
  }

  languageChanged() {
    const lang = this.pickLanguage();
    if (lang === this.lang) return;
    this.lang = lang;
    this.relabel();
    // The bot's and the person's messages stay as written; the labels of the cards follow.
    for (const node of this.log.querySelectorAll(".ac-who")) {
      node.textContent = this.t(node.dataset.who === "user" ? "chatYou" : "chatBot");
    }
    for (const list of this.log.querySelectorAll(".ac-services")) list.replaceWith(this.servicesList(list.turn));
    if (this.consent) this.renderConsent();
  }

  renderCrisis() {
    if (!this.crisis) {
      this.crisisBox.hidden = true;
      this.crisisBox.replaceChildren();
      return;
    }
    this.crisisBox.replaceChildren(
      el("p", { class: "ac-crisis-title" }, el("strong", {}, this.t("chatCrisisTitle"))),
      el("p", {}, this.t("chatCrisisText"), " ", el("a", { href: "tel:112", class: "ac-112" }, "112"), "."),
      el("p", {}, this.t("chatCrisisMore")));
    this.crisisBox.hidden = false;
  }

  renderQuick() {
    this.quick.replaceChildren(...this.suggestions.map((text) => {
      const button = el("button", { type: "button", class: "ac-suggestion" }, text);
      button.addEventListener("click", () => this.send(text));
      return button;
    }));
    this.quick.hidden = !this.suggestions.length;
  }

  setStatus(...parts) {
    this.status.classList.toggle("ac-error", parts.length > 0 && parts[0] !== this.t("chatThinking") &&
                                             parts[0] !== this.t("chatCleared"));
    this.status.replaceChildren(...parts.map((p) => (p instanceof Node ? p : document.createTextNode(p))));
  }

  // ---- the conversation ---------------------------------------------------------------------

  async send(raw) {
    const message = String(raw || "").trim();
    if (this.busy) return;
    if (!message) {
      this.setStatus(this.t("chatErrEmpty"));
      this.input.focus();
      return;
    }
    if (message.length > MAX_MESSAGE) {
      this.setStatus(this.t("chatErrTooLong"));
      return;
    }
    const hadFocus = this.root.contains(document.activeElement);
    const generation = this.generation = (this.generation || 0) + 1;
    this.busy = true;
    this.input.value = "";
    this.suggestions = [];
    this.renderQuick();
    this.addTurn({ role: "user", text: message, lang: this.lang });
    this.setStatus(this.t("chatThinking"));
    this.sendButton.setAttribute("aria-disabled", "true");
    const body = { message, language: this.lang };
    if (this.state) body.state = this.state;
    try {
      const answer = await post("/v1/conversation:turn", body);
      if (generation !== this.generation) return;  // cleared meanwhile: forget the answer
      this.state = answer.state || null;
      this.suggestions = answer.suggestions || [];
      if (answer.crisis) {
        this.crisis = true;
        this.renderCrisis();
      }
      this.addTurn({ role: "bot", text: (answer.replies || []).join("\n"), lang: this.lang, response: answer });
      this.setStatus();
    } catch (error) {
      if (generation !== this.generation) return;
      this.setStatus(...this.errorText(error));
    } finally {
      if (generation === this.generation) {
        this.busy = false;
        this.sendButton.removeAttribute("aria-disabled");
        this.renderQuick();
      }
    }
    // Back to the input when the person was in the widget (a tapped quick reply is gone).
    const active = document.activeElement;
    if (hadFocus && (!active || active === document.body || this.root.contains(active))) this.input.focus();
  }

  errorText(error) {
    if (!(error instanceof ApiError) || error.status === 0) return [this.t("errNetwork")];
    return [`${this.t("errApi")} (${error.status}): `,
            el("span", { lang: this.lang !== "en" ? "en" : null }, error.message)];
  }

  clear() {
    this.generation = (this.generation || 0) + 1;
    this.turns = [];
    this.state = null;
    this.suggestions = [];
    this.crisis = false;
    this.busy = false;
    this.feedback.clear();
    this.transfers.clear();
    this.token = null;
    if (this.dialog.open) {
      this.consent = null;
      this.dialog.close();
    }
    this.sendButton.removeAttribute("aria-disabled");
    this.input.value = "";
    this.log.replaceChildren();
    this.renderQuick();
    this.renderCrisis();
    this.intro.hidden = false;
    this.setStatus(this.t("chatCleared"));
    this.input.focus();
  }

  addTurn(turn) {
    this.turns.push(turn);
    this.intro.hidden = true;
    const who = el("span", { class: "ac-who", "data-who": turn.role },
                   this.t(turn.role === "user" ? "chatYou" : "chatBot"));
    const lines = turn.text.split("\n").filter(Boolean).map((line) => el("p", { class: "ac-text" }, line));
    // Marked with the language it was written in: the widget's language may change later.
    const message = el("div", { class: `ac-msg ac-${turn.role}`, lang: turn.lang },
                       who, ...lines);
    if (turn.response && (turn.response.services || []).length) message.append(this.servicesList(turn));
    this.log.append(message);
    this.log.scrollTop = this.log.scrollHeight;
  }

  // ---- service cards ------------------------------------------------------------------------

  pick(localized) {
    if (!localized) return ["", this.lang];
    for (const lang of [this.lang, ...LANGUAGES]) if (localized[lang]) return [localized[lang], lang];
    return ["", this.lang];
  }

  localized(localized, tag, attrs = {}) {
    const [text, lang] = this.pick(localized);
    return el(tag, { ...attrs, lang: lang !== this.lang ? lang : null }, text);
  }

  apiText(text, tag) {
    return el(tag, { lang: this.lang !== "en" ? "en" : null }, text);
  }

  servicesList(turn) {
    const response = turn.response;
    const list = el("ul", { class: "ac-services", lang: this.lang, "aria-label": this.t("chatServices") },
      response.services.map((r) => this.card(response, r)));
    list.turn = turn;
    return list;
  }

  card(response, recommended) {
    const service = recommended.service;
    const x = recommended.explanation || {};
    const source = { LABEL_SOURCE_HAND: "sourceHand", LABEL_SOURCE_MAPPED: "sourceMapped",
                     LABEL_SOURCE_INFERRED: "sourceInferred" };
    const rows = [];
    if (x.crisis) rows.push(el("dt", {}, this.t("crisisService")), el("dd", {}, this.apiText(x.crisis, "span")));
    const areas = (x.life_areas || []).map((a) => {
      const key = a.area.replace(/^LIFE_AREA_/, "").toLowerCase();
      const name = AREA_TEXTS[key] ? AREA_TEXTS[key][this.lang][0] : a.area;
      return el("li", {}, name, source[a.source] ? ` (${this.t(source[a.source])})` : "");
    });
    if (areas.length) rows.push(el("dt", {}, this.t("lifeAreas")), el("dd", {}, el("ul", {}, areas)));
    if (x.filters?.length) {
      rows.push(el("dt", {}, this.t("filters")),
                el("dd", {}, el("ul", {}, x.filters.map((f) => this.apiText(f, "li")))));
    }
    if (x.eligibility?.length) {
      rows.push(el("dt", {}, this.t("eligibility")),
                el("dd", {}, el("ul", {}, x.eligibility.map((e) => this.apiText(e, "li")))));
    }
    const why = rows.length
      ? el("div", { class: "ac-why" }, el("p", { class: "ac-why-title" }, this.t("whyTitle")), el("dl", {}, rows))
      : null;
    return el("li", { class: `ac-card${x.crisis ? " ac-card-crisis" : ""}`, "data-service-id": service.id },
      x.crisis ? el("p", { class: "ac-badge" }, this.t("crisisService")) : null,
      this.localized(service.name, "h3", { class: "ac-service-name" }),
      this.localized(service.summary, "p", { class: "ac-summary" }),
      why, this.channels(response, service), this.transferControls(response, recommended),
      this.feedbackControls(response, service.id));
  }

  channels(response, service) {
    const items = [];
    for (const channel of service.channels || []) {
      const [name, nameLang] = this.pick(channel.name);
      (channel.urls || []).forEach((url, index) => {
        if (!/^https?:\/\//i.test(url)) return;
        const link = el("a", { href: url, rel: "noopener noreferrer", class: "ac-channel",
                               lang: nameLang !== this.lang ? nameLang : null }, name || url);
        link.addEventListener("click", () => this.recordRedirect(response, service.id, channel.id, index));
        items.push(el("li", {}, link, " ", el("span", { class: "ac-hidden" }, this.t("openInNew"))));
      });
      for (const phone of channel.phones || []) {
        items.push(el("li", {}, `${this.t("phone")}: `,
                      el("a", { href: `tel:${phone.replace(/[^+\d]/g, "")}` }, phone)));
      }
      for (const email of channel.emails || []) {
        items.push(el("li", {}, `${this.t("email")}: `, el("a", { href: `mailto:${email}` }, email)));
      }
    }
    const seen = new Set();
    const unique = items.filter((li) => !seen.has(li.textContent) && seen.add(li.textContent)).slice(0, 4);
    if (!unique.length) return el("p", { class: "ac-channels ac-none" }, this.t("noChannels"));
    return el("div", { class: "ac-channels" }, el("p", { class: "ac-channels-title" }, this.t("channels")),
              el("ul", {}, unique));
  }

  // ---- session transfer: "send my details to this service" ----------------------------------
  //
  // A channel whose directory entry has `session_transfer` takes a person's attributes. The
  // consent step (a modal <dialog> in the widget) names the service and channel and lists, each
  // with its own checkbox (all unticked: nothing goes unless the person ticks it), exactly the
  // attributes the channel accepts and the conversation knows (its `state`: municipality, age).
  // On confirm: the development sign-in when the node offers it (the token in memory only), then
  // PATCH /v1/profile/attributes (the ticked ones), POST /v1/profile/transfers (the same names),
  // and the link the API answers is shown. Cancel and Escape send nothing.

  transferChannels(service) {
    return (service.channels || []).filter((c) => c.id && c.session_transfer &&
      (c.session_transfer.accepted_attributes || []).length);
  }

  // What the conversation knows that the channel accepts: [{name, label, value, text}].
  offeredAttributes(channel, recommended) {
    const accepted = new Set(channel.session_transfer.accepted_attributes);
    const known = this.state || {};
    const out = [];
    for (const { name, label } of TRANSFER_ATTRIBUTES) {
      if (!accepted.has(name)) continue;
      if (name === "municipality_code" && /^\d{3}$/.test(known.municipality_code || "")) {
        const code = known.municipality_code;
        out.push({ name, label, value: code, text: this.municipalityText(code, recommended) });
      } else if (name === "age" && Number.isInteger(known.age)) {
        out.push({ name, label, value: known.age, text: String(known.age) });
      }
    }
    return out;
  }

  // "Helsinki (091)" when the card's explanation names it ("available in 091 Helsinki"), else 091.
  municipalityText(code, recommended) {
    for (const filter of recommended?.explanation?.filters || []) {
      const match = new RegExp(`(?:^|[ ,])${code} ([^,()]+)`).exec(filter);
      if (match && match[1].trim()) return `${match[1].trim()} (${code})`;
    }
    return code;
  }

  transferKey(response, channel) {
    return `${response.recommendation_id}/${channel.id}`;
  }

  transferControls(response, recommended) {
    const channels = this.transferChannels(recommended.service);
    if (!channels.length) return null;
    return el("div", { class: "ac-transfer" }, channels.map((channel) => {
      const [channelName, nameLang] = this.pick(channel.name);
      const button = el("button", { type: "button", class: "ac-send-details",
                                    "data-transfer-channel": channel.id },
                        this.tt("sendDetails"),
                        channels.length > 1 && channelName
                          ? el("span", { lang: nameLang !== this.lang ? nameLang : null }, ` (${channelName})`)
                          : null);
      button.addEventListener("click", () => this.openConsent(response, recommended, channel, button));
      const sent = this.transfers.get(this.transferKey(response, channel));
      return el("div", { class: "ac-transfer-channel" }, button, sent ? this.transferResult(sent, "p") : null);
    }));
  }

  transferResult(result, tag) {
    if (!result.access_token || !/^https?:\/\//i.test(result.redirect_url || "")) {
      return el(tag, { class: "ac-transfer-result" }, this.tt("sentNoLink"));
    }
    const time = new Date(result.expire_time);
    const hhmm = isNaN(time) ? "" : time.toLocaleTimeString(this.lang, { hour: "2-digit", minute: "2-digit" });
    return el(tag, { class: "ac-transfer-result" },
              el("a", { href: result.redirect_url, class: "ac-transfer-link", rel: "noopener noreferrer" },
                 this.tt("openService")),
              " ", this.tt("validUntil").replace("{time}", hhmm));
  }

  async openConsent(response, recommended, channel, opener) {
    if (this.consent) return;
    this.devIssuer = await devSignInOffered();
    this.consent = { response, recommended, channel, opener, phase: "choose", checked: new Set(),
                     error: null, result: null };
    this.renderConsent();
    if (!this.dialog.open) this.dialog.showModal();
    this.dialog.querySelector(".ac-consent-title").focus();
  }

  signedIn() {
    return this.token && this.token.expires > Date.now() + 30_000 ? this.token.token : null;
  }

  renderConsent() {
    const c = this.consent;
    const id = this.id;
    if (!c) {
      this.dialog.replaceChildren();
      return;
    }
    this.dialog.lang = this.lang;
    const service = c.recommended.service;
    const facts = (withUrl) => {
      const [url] = (c.channel.urls || []).filter((u) => /^https?:\/\//i.test(u));
      return el("dl", { class: "ac-recipient" },
        el("dt", {}, this.tt("service")), el("dd", {}, this.localized(service.name, "span")),
        el("dt", {}, this.tt("channel")),
        el("dd", {}, this.localized(c.channel.name, "span"),
           withUrl && url ? el("span", { class: "ac-url" }, ` (${url})`) : null));
    };
    const title = (key) => el("h2", { id: `${id}-consent-title`, class: "ac-consent-title", tabindex: "-1" },
                              this.tt(key));
    if (c.phase === "done") {
      const sent = new Set(c.result.attributes || c.sent || []);
      const close = el("button", { type: "button", class: "ac-consent-close ac-primary" }, this.tt("close"));
      close.addEventListener("click", () => this.dialog.close());
      this.dialog.replaceChildren(
        title("sentTitle"),
        el("p", {}, `${this.tt("sentWhat")}:`),
        el("ul", { class: "ac-sent-attributes" },
           TRANSFER_ATTRIBUTES.filter((a) => sent.has(a.name))
             .map((a) => el("li", { "data-attribute": a.name }, this.tt(a.label)))),
        el("h3", {}, this.tt("recipient")), facts(false),
        this.transferResult(c.result, "p"),
        el("div", { class: "ac-actions" }, close));
      return;
    }

    const offered = this.offeredAttributes(c.channel, c.recommended);
    const busy = c.phase === "sending";
    let choices;
    if (!offered.length) {
      choices = el("p", { class: "ac-nothing" }, this.tt("nothingKnown"));
    } else {
      choices = el("fieldset", { class: "ac-attributes" }, el("legend", {}, this.tt("chooseDetails")),
        offered.map(({ name, label, text }) => {
          const boxId = `${id}-consent-attr-${name}`;
          const box = el("input", { type: "checkbox", id: boxId, "data-attribute": name,
                                    checked: c.checked.has(name), disabled: busy });
          box.addEventListener("change", () => {
            if (box.checked) c.checked.add(name);
            else c.checked.delete(name);
            if (box.checked && c.error) {  // "choose at least one" is answered
              c.error = null;
              const shown = this.dialog.querySelector(".ac-consent-error");
              if (shown) {
                shown.hidden = true;
                shown.replaceChildren();
              }
            }
          });
          return el("div", { class: "ac-check" }, box,
                    el("label", { for: boxId }, el("strong", {}, this.tt(label)), ": ",
                       el("span", { class: "ac-attr-value", "data-value-of": name }, text)));
        }));
    }
    const canSignIn = !!this.signedIn() || this.devIssuer;
    const signIn = this.signedIn() ? null
      : el("p", { class: "ac-note" }, this.tt(this.devIssuer ? "signInDev" : "signInUnavailable"));
    const error = el("div", { class: "ac-consent-error ac-error", role: "alert", tabindex: "-1",
                              hidden: !c.error }, ...(c.error || []));
    const confirm = el("button", { type: "button", class: "ac-consent-confirm ac-primary",
                                   "aria-disabled": busy || !offered.length || !canSignIn ? "true" : null },
                       busy ? this.tt("sending") : this.tt("confirmSend"));
    confirm.addEventListener("click", () => this.confirmTransfer());
    const cancel = el("button", { type: "button", class: "ac-consent-cancel",
                                  "aria-disabled": busy ? "true" : null }, this.tt("cancel"));
    cancel.addEventListener("click", () => {
      if (this.consent?.phase !== "sending") this.dialog.close();
    });
    this.dialog.replaceChildren(
      title("consentTitle"),
      el("p", {}, this.tt("consentLead")),
      el("h3", {}, this.tt("recipient")), facts(true),
      choices,
      el("p", { class: "ac-note" }, this.tt("sendHow")),
      signIn, error,
      el("div", { class: "ac-actions" }, confirm, cancel),
      el("p", { class: "ac-consent-status", role: "status" }, busy ? this.tt("sending") : ""));
  }

  async confirmTransfer() {
    const c = this.consent;
    if (!c || c.phase !== "choose") return;
    const chosen = this.offeredAttributes(c.channel, c.recommended).filter((a) => c.checked.has(a.name));
    if (!chosen.length || (!this.signedIn() && !this.devIssuer)) {
      if (!chosen.length) c.error = [this.tt("chooseOne")];
      this.renderConsent();
      (this.dialog.querySelector("input[type=checkbox]") || this.dialog.querySelector(".ac-consent-error"))?.focus();
      return;
    }
    c.phase = "sending";
    c.error = null;
    this.renderConsent();
    try {
      if (!this.signedIn()) {
        const subject = "kehitys-" + Array.from(crypto.getRandomValues(new Uint8Array(8)),
                                                (b) => b.toString(16).padStart(2, "0")).join("");
        const answer = await post("/v1/dev-identity/token", { subject, lifetime_seconds: 3600 });
        this.token = { token: answer.access_token, expires: Date.now() + (answer.expires_in || 900) * 1000 };
      }
      const token = this.signedIn();
      await call("PATCH", "/v1/profile/attributes",
                 { attributes: Object.fromEntries(chosen.map((a) => [a.name, a.value])) }, { token });
      c.result = await call("POST", "/v1/profile/transfers", {
        service_channel_id: c.channel.id, service_id: c.recommended.service.id,
        attribute_names: chosen.map((a) => a.name),
      }, { token });
      c.sent = chosen.map((a) => a.name);
      if (this.consent !== c) return;  // cleared meanwhile
      this.transfers.set(this.transferKey(c.response, c.channel), c.result);
      c.phase = "done";
    } catch (error) {
      if (this.consent !== c) return;
      if (error instanceof ApiError && error.status === 401) {
        this.token = null;
        c.error = [this.tt("sessionExpired")];
      } else {
        c.error = this.errorText(error);
      }
      c.phase = "choose";
    }
    this.renderConsent();
    this.dialog.querySelector(c.phase === "done" ? ".ac-consent-title" : ".ac-consent-error")?.focus();
  }

  // Closing (Cancel, Close, Escape) sends nothing; focus goes back to the button that opened it
  // (redrawn: the card's link to the service appears next to it).
  consentClosed() {
    const c = this.consent;
    this.consent = null;
    this.renderConsent();
    if (!c) return;
    const list = [...this.log.querySelectorAll(".ac-services")].find((l) => l.turn?.response === c.response);
    const selector = `.ac-card[data-service-id="${CSS.escape(c.recommended.service.id)}"] ` +
                     `button[data-transfer-channel="${CSS.escape(c.channel.id)}"]`;
    if (list) {
      const fresh = this.servicesList(list.turn);
      list.replaceWith(fresh);
      const button = fresh.querySelector(selector);
      if (button) {
        button.focus();
        return;
      }
    }
    if (c.opener.isConnected) {
      c.opener.focus();
    } else {
      this.input.focus();
    }
  }

  // A click on a channel link is recorded for the recommender's learning; the link opens anyway.
  recordRedirect(response, serviceId, channelId, linkIndex) {
    if (!response.recommendation_id || response.recommendation_id === "0" || !channelId) return;
    post(`/v1/recommendations/${encodeURIComponent(response.recommendation_id)}:redirect`,
         { service_id: serviceId, channel_id: channelId, link_index: linkIndex },
         { keepalive: true }).catch(() => {});
  }

  feedbackControls(response, serviceId) {
    const key = `${response.recommendation_id}/${serviceId}`;
    const fb = this.feedback.get(key);
    const done = fb && fb.status === "done";
    const busy = fb && fb.status === "sending";
    const status = el("span", { class: "ac-feedback-status", role: "status" });
    if (done) status.append(this.t("thanks"));
    if (fb && fb.status === "error") {
      status.classList.add("ac-error");
      status.append(...this.errorText(fb.error));
    }
    const button = (score, label) => {
      const b = el("button", { type: "button", class: "ac-thumb", "data-score": score,
                               "aria-pressed": fb && fb.score === score ? "true" : "false",
                               "aria-disabled": done || busy ? "true" : null },
                   thumbIcon(score < 0), " ", this.t(label));
      b.addEventListener("click", () => {
        const current = this.feedback.get(key);
        if (!current || current.status === "error") this.sendFeedback(response, serviceId, score);
      });
      return b;
    };
    return el("div", { class: "ac-feedback", role: "group", "aria-label": this.t("helpful"),
                       "data-feedback": serviceId },
              el("span", { class: "ac-feedback-q", "aria-hidden": "true" }, this.t("helpful")),
              button(1, "thumbsUp"), button(-1, "thumbsDown"), status);
  }

  async sendFeedback(response, serviceId, score) {
    const key = `${response.recommendation_id}/${serviceId}`;
    const rerender = () => {
      for (const group of this.log.querySelectorAll(`.ac-feedback[data-feedback="${CSS.escape(serviceId)}"]`)) {
        if (group.closest(".ac-services")?.turn?.response !== response) continue;
        const hadFocus = group.contains(document.activeElement);
        const fresh = this.feedbackControls(response, serviceId);
        group.replaceWith(fresh);
        if (hadFocus) (fresh.querySelector('button[aria-pressed="true"]') || fresh.querySelector("button")).focus();
      }
    };
    this.feedback.set(key, { score, status: "sending" });
    rerender();
    try {
      await post(`/v1/recommendations/${encodeURIComponent(response.recommendation_id)}:feedback`,
                 { services: [{ service_id: serviceId, score }] });
      this.feedback.set(key, { score, status: "done" });
    } catch (error) {
      this.feedback.set(key, { score: 0, status: "error", error });
    }
    rerender();
  }
}

// <aurora-chat>: the custom element form of the widget.
class AuroraChatElement extends HTMLElement {
  connectedCallback() {
    if (!this.widget) this.widget = new ChatWidget(this);
  }
}

loadStyles();
if (!customElements.get("aurora-chat")) customElements.define("aurora-chat", AuroraChatElement);
function mountById() {
  const host = document.getElementById("aurora-chat");
  if (host && !host.auroraChat && host.localName !== "aurora-chat") host.auroraChat = new ChatWidget(host);
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountById);
else mountById();
