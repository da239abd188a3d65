// The public referral form in the browser: check the answers, seal them to the triage desk, send only the seal.
//
// Format "onedoor intake v1" (onedoor/envelope/intake.py is the Python twin): an ephemeral P-256
// key, ECDH with the triage desk's intake key, HKDF-SHA256 (empty salt, info "onedoor/v1/intake"
// + ephemeral point + intake point, raw uncompressed) to an AES-256-GCM key, a 12-byte random IV,
// the key id as additional data. The plaintext fields are disabled before submitting, so the
// browser never sends them. Rules and messages come from the page (#intake-rules), written by
// hub/intake/form.py, so both sides say the same thing. No inline script: CSP-compatible.
//
// Just before sealing it swaps the page's fill-time token for a fresh one (GET /refer/token), so
// a page left open for days, or served before the hub's key changed, still goes through. If the
// hub still answers "Your form timed out", going Back brings the form back with every answer and
// the fields enabled again (pageshow below).

import { initAll } from "/assets/govuk-frontend.min.js";

initAll();

const form = document.getElementById("refer-form");
const rules = JSON.parse(document.getElementById("intake-rules").textContent);
const encoder = new TextEncoder();

function b64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(text) {
  const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(plain, (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(new Uint8Array(part), at);
    at += part.byteLength;
  }
  return out;
}

// Seal `plaintext` (bytes) to the intake key: returns the sealed JSON text.
export async function sealForm(publicRaw, keyId, plaintext) {
  const subtle = window.crypto.subtle;
  const recipient = await subtle.importKey("raw", publicRaw, { name: "ECDH", namedCurve: "P-256" }, false, []);
  const ephemeral = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
  const ephemeralRaw = new Uint8Array(await subtle.exportKey("raw", ephemeral.publicKey));
  const shared = await subtle.deriveBits({ name: "ECDH", public: recipient }, ephemeral.privateKey, 256);
  const hkdf = await subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const info = concat(encoder.encode("onedoor/v1/intake"), ephemeralRaw, publicRaw);
  const key = await subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info },
    hkdf,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt"],
  );
  const iv = window.crypto.getRandomValues(new Uint8Array(12));
  const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: encoder.encode(keyId) }, key, plaintext);
  return JSON.stringify({ v: 1, kid: keyId, epk: b64url(ephemeralRaw), iv: b64url(iv), ct: b64url(ct) });
}

function value(name) {
  const field = form.elements.namedItem(name);
  if (!field) return "";
  if (field instanceof RadioNodeList) return field.value.trim();
  return (field.value || "").trim();
}

function checked(name) {
  return Array.from(form.querySelectorAll(`input[name="${name}"]:checked`), (input) => input.value);
}

function oldestBirthDate(today) {
  const year = today.getUTCFullYear() - rules.ageMax - 1;
  const day = today.getUTCMonth() === 1 && today.getUTCDate() === 29 ? 28 : today.getUTCDate();
  return new Date(Date.UTC(year, today.getUTCMonth(), day));
}

// The same checks as hub/intake/form.py `parse`, in the same order; returns {errors, doc}.
export function check(today = new Date()) {
  const errors = [];
  const add = (field, message) => errors.push({ field, message });
  const choice = (name) => {
    const chosen = value(name);
    if (!rules.choices[name].includes(chosen)) {
      add(name, rules.messages[name]);
      return "";
    }
    return chosen;
  };
  const relationship = choice("relationship");
  for (const [name, limits] of Object.entries(rules.text)) {
    if (value(name).length > limits.max) add(name, limits.tooLong);
  }
  const [day, month, year] = ["dob-day", "dob-month", "dob-year"].map(value);
  let born = null;
  let dateProblem = null;
  if (day || month || year) {
    if (!(day && month && year)) dateProblem = rules.messages["dob-incomplete"];
    else if (![day, month, year].every((p) => /^[0-9]+$/.test(p)) || year.length !== 4) {
      dateProblem = rules.messages["dob-real"];
    } else {
      const d = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
      const real = d.getUTCFullYear() === Number(year) && d.getUTCMonth() === Number(month) - 1 && d.getUTCDate() === Number(day);
      const now = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()));
      if (!real) dateProblem = rules.messages["dob-real"];
      else if (d > now) dateProblem = rules.messages["dob-future"];
      else if (d <= oldestBirthDate(today)) dateProblem = rules.messages["dob-too-old"];
      else born = d.toISOString().slice(0, 10);
    }
  }
  if (dateProblem) add("dob-day", dateProblem);
  const ageText = value("estimated-age");
  let age = null;
  let ageProblem = null;
  if (ageText) {
    if (!/^[0-9]{1,3}$/.test(ageText)) ageProblem = rules.messages["age-number"];
    else if (Number(ageText) > rules.ageMax) ageProblem = rules.messages["age-range"];
    else age = Number(ageText);
  }
  if (ageProblem) add("estimated-age", ageProblem);
  const named = value("child-given-name") || value("child-family-name");
  const placed = born || age !== null || value("area") || value("school");
  if (!dateProblem && !ageProblem && !(named && placed)) add("child-given-name", rules.messages.identify);
  const concerns = [...new Set(checked("concerns"))].filter((c) => rules.choices.concerns.includes(c));
  if (!concerns.length) add("concerns", rules.messages.concerns);
  if (!value("summary")) add("summary", rules.messages.summary);
  const urgency = choice("urgency");
  const parentKnows = choice("parent-knows");
  const orNull = (name) => value(name) || null;
  const doc = {
    v: 1,
    referrer: { relationship, name: orNull("referrer-name"), contact: orNull("referrer-contact") },
    child: {
      given_name: orNull("child-given-name"),
      family_name: orNull("child-family-name"),
      known_as: orNull("child-known-as"),
      date_of_birth: born,
      estimated_age: age,
      area: orNull("area"),
      school: orNull("school"),
    },
    concern_categories: concerns,
    concern_summary: value("summary"),
    urgency,
    parent_carer_knows: parentKnows,
  };
  return { errors, doc };
}

function clearErrors() {
  document.getElementById("error-summary-slot").replaceChildren();
  for (const message of form.querySelectorAll(".onedoor-js-error")) message.remove();
  for (const group of form.querySelectorAll(".govuk-form-group--error")) group.classList.remove("govuk-form-group--error");
}

function fieldError(field, message) {
  const input = document.getElementById(field);
  const group = input && input.closest(".govuk-form-group");
  if (!group || group.querySelector(".govuk-error-message")) return;
  group.classList.add("govuk-form-group--error");
  const line = document.createElement("p");
  line.className = "govuk-error-message onedoor-js-error";
  line.id = `${field}-js-error`;
  const hidden = document.createElement("span");
  hidden.className = "govuk-visually-hidden";
  hidden.textContent = "Error:";
  line.append(hidden, ` ${message}`);
  const anchor = group.querySelector(".govuk-fieldset__legend, .govuk-label");
  const hint = group.querySelector(".govuk-hint");
  const after = hint || anchor;
  if (after && after.parentNode) after.insertAdjacentElement("afterend", line);
  else group.prepend(line);
}

function showErrors(errors) {
  clearErrors();
  const summary = document.createElement("div");
  summary.className = "govuk-error-summary";
  summary.setAttribute("data-module", "govuk-error-summary");
  summary.tabIndex = -1;
  const alert = document.createElement("div");
  alert.setAttribute("role", "alert");
  const title = document.createElement("h2");
  title.className = "govuk-error-summary__title";
  title.textContent = "There is a problem";
  const body = document.createElement("div");
  body.className = "govuk-error-summary__body";
  const list = document.createElement("ul");
  list.className = "govuk-list govuk-error-summary__list";
  for (const { field, message } of errors) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `#${field}`;
    link.textContent = message;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const target = document.getElementById(field);
      if (target) {
        target.scrollIntoView();
        target.focus();
      }
    });
    item.append(link);
    list.append(item);
    fieldError(field, message);
  }
  body.append(list);
  alert.append(title, body);
  summary.append(alert);
  document.getElementById("error-summary-slot").append(summary);
  if (!document.title.startsWith("Error: ")) document.title = `Error: ${document.title}`;
  summary.focus();
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

// A fill-time token the hub will accept now (waits if the page was only just loaded).
async function freshToken() {
  const field = form.elements.namedItem("form-token");
  const previous = encodeURIComponent(field.value || "");
  const response = await fetch(`/refer/token?previous=${previous}`, {
    headers: { Accept: "application/json" },
    cache: "no-store",
  });
  if (!response.ok) return; // keep the page's token; the hub says if it is too old
  const fresh = await response.json();
  field.value = fresh.token;
  if (fresh.wait_s > 0) await sleep(fresh.wait_s);
}

const KEEP = new Set(["sealed", "form-token", "website", "progress-link"]);

async function submit(event) {
  if (!(window.crypto && window.crypto.subtle)) return; // no WebCrypto: the hub checks and seals instead
  event.preventDefault();
  const { errors, doc } = check();
  if (errors.length) {
    showErrors(errors);
    return;
  }
  const button = document.getElementById("send-referral");
  button.disabled = true;
  try {
    const response = await fetch("/intake/key", { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) throw new Error(`intake key: ${response.status}`);
    const key = await response.json();
    const sealed = await sealForm(unb64url(key.public_key), key.key_id, encoder.encode(JSON.stringify(doc)));
    await freshToken();
    document.getElementById("sealed").value = sealed;
    for (const element of Array.from(form.elements)) {
      if (element.name && !KEEP.has(element.name)) element.disabled = true;
    }
    form.submit();
  } catch (problem) {
    button.disabled = false;
    showErrors([{ field: "relationship", message: "Your form could not be sent securely. Try again in a few minutes" }]);
  }
}

form.addEventListener("submit", submit);

// Back from a "timed out" or "try again" page (back/forward cache): the answers are still in the
// page; make them editable and sendable again, and drop the old seal.
window.addEventListener("pageshow", () => {
  for (const element of Array.from(form.elements)) element.disabled = false;
  document.getElementById("sealed").value = "";
});
