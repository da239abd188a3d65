// The ops dashboard, live: each server-sent "snapshot" event from /ops/stream refills the tables and
// redraws the two SVG charts. No library, no CDN, no inline style (the page's CSP forbids it): the
// charts use SVG attributes and the classes in console.css. Text goes in with textContent only.

const SVG = "http://www.w3.org/2000/svg";
const root = document.getElementById("dashboard");
const sentences = JSON.parse(document.getElementById("reason-sentences").textContent || "{}");
const status = document.getElementById("live-status");

function field(name) {
  return root.querySelector(`[data-field="${name}"]`);
}

function setText(name, value) {
  const element = field(name);
  if (element) element.textContent = value;
}

function number(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ms(value) {
  return value === null || value === undefined ? "–" : `${number(value, value < 10 ? 1 : 0)} ms`;
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 60) return `${number(value, 0)} s`;
  if (value < 3600) return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
  return `${Math.floor(value / 3600)} h ${Math.round((value % 3600) / 60)} min`;
}

function clock(iso) {
  if (!iso) return "never";
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "–" : `${when.toISOString().slice(11, 19)} UTC`;
}

function day(iso) {
  if (!iso) return "no end set";
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "–" : when.toISOString().slice(0, 10);
}

function cell(text, numeric = false, header = false) {
  const element = document.createElement(header ? "th" : "td");
  element.className = header ? "govuk-table__header" : "govuk-table__cell";
  if (header) element.scope = "row";
  if (numeric) element.classList.add(header ? "govuk-table__header--numeric" : "govuk-table__cell--numeric");
  element.textContent = text;
  return element;
}

function fill(tbodyId, rows, empty, columns) {
  const body = document.getElementById(tbodyId);
  const fresh = [];
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.className = "govuk-table__row";
    row.cells.forEach((value, index) => tr.append(cell(value, index >= columns.firstNumeric, index === 0)));
    if (row.key) tr.dataset.key = row.key;
    fresh.push(tr);
  }
  if (fresh.length === 0) {
    const tr = document.createElement("tr");
    tr.className = "govuk-table__row";
    const td = cell(empty);
    td.colSpan = columns.count;
    tr.append(td);
    fresh.push(tr);
  }
  body.replaceChildren(...fresh);
}

function svg(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function clearChart(chart) {
  for (const child of [...chart.children]) if (child.tagName !== "title") child.remove();
}

// Delivered (area) and refused (line) a second, oldest on the left, with a y axis from 0 to the peak.
function drawFlow(series) {
  const chart = document.getElementById("flow-chart");
  clearChart(chart);
  const width = 900, height = 220, left = 48, right = 12, top = 12, bottom = 28;
  const plotW = width - left - right, plotH = height - top - bottom;
  const points = series.length ? series : [{ delivered: 0, rejected: 0 }];
  const peak = Math.max(1, ...points.map((p) => Math.max(p.delivered, p.rejected)));
  const x = (i) => left + (points.length === 1 ? plotW : (i * plotW) / (points.length - 1));
  const y = (v) => top + plotH - (v * plotH) / peak;
  chart.append(svg("line", { x1: left, y1: top + plotH, x2: width - right, y2: top + plotH, class: "console-axis" }));
  chart.append(svg("line", { x1: left, y1: top, x2: left, y2: top + plotH, class: "console-axis" }));
  chart.append(svg("text", { x: left - 6, y: top + 10, class: "console-axis-label", "text-anchor": "end" }, number(peak)));
  chart.append(svg("text", { x: left - 6, y: top + plotH, class: "console-axis-label", "text-anchor": "end" }, "0"));
  chart.append(svg("text", { x: left, y: height - 8, class: "console-axis-label" }, `${points.length} s ago`));
  chart.append(svg("text", { x: width - right, y: height - 8, class: "console-axis-label", "text-anchor": "end" }, "now"));
  const line = (key) => points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
  const area = `${line("delivered")} L${x(points.length - 1).toFixed(1)},${y(0)} L${x(0).toFixed(1)},${y(0)} Z`;
  chart.append(svg("path", { d: area, class: "console-area--delivered" }));
  chart.append(svg("path", { d: line("delivered"), class: "console-line--delivered" }));
  chart.append(svg("path", { d: line("rejected"), class: "console-line--rejected" }));
}

// Senders on the left, recipients on the right; one curve per pair, thicker for more messages a second.
function drawPairs(pairs) {
  const chart = document.getElementById("pairs-chart");
  clearChart(chart);
  const senders = [...new Set(pairs.map((p) => p.sender))].sort();
  const recipients = [...new Set(pairs.map((p) => p.recipient))].sort();
  const rows = Math.max(senders.length, recipients.length, 1);
  const rowH = 40, top = 20, width = 900, nodeW = 250, nodeH = 28;
  const height = top * 2 + rows * rowH;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.setAttribute("height", String(height));
  if (pairs.length === 0) {
    chart.append(svg("text", { x: width / 2, y: height / 2, class: "console-axis-label", "text-anchor": "middle" },
      "Nothing delivered in this period"));
    return;
  }
  const ys = (list, name) => top + list.indexOf(name) * rowH + nodeH / 2 + ((rows - list.length) * rowH) / 2;
  const peak = Math.max(...pairs.map((p) => p.per_s), 0.001);
  for (const pair of pairs) {
    const y1 = ys(senders, pair.sender), y2 = ys(recipients, pair.recipient);
    const x1 = nodeW, x2 = width - nodeW, mid = (x1 + x2) / 2;
    const path = svg("path", {
      d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
      class: "console-edge",
      "stroke-width": (1.5 + (10 * pair.per_s) / peak).toFixed(1),
    });
    path.append(svg("title", {}, `${pair.sender} to ${pair.recipient}: ${number(pair.per_s, 2)} a second`));
    chart.append(path);
  }
  const node = (name, x, y, anchor) => {
    chart.append(svg("rect", { x, y: y - nodeH / 2, width: nodeW - 10, height: nodeH, rx: 3, class: "console-node" }));
    const tx = anchor === "start" ? x + 8 : x + nodeW - 18;
    chart.append(svg("text", { x: tx, y: y + 5, class: "console-node-label", "text-anchor": anchor }, name));
  };
  senders.forEach((name) => node(name, 0, ys(senders, name), "start"));
  recipients.forEach((name) => node(name, width - nodeW + 10, ys(recipients, name), "end"));
}

function sentence(code) {
  return sentences[code] || "No description for this code in this version of OneDoor.";
}

function show(sectionId, present) {
  document.getElementById(sectionId).hidden = !present;
}

const WINDOW_WORDS = { 60: "minute", 300: "5 minutes", 3600: "hour" };
let latest = null;

function chosenWindow() {
  const checked = root.querySelector('input[name="window"]:checked');
  return checked ? checked.value : "1m";
}

function render(snap) {
  latest = snap;
  // The flow figures of the chosen window (the top level holds the default window's).
  const view = (snap.windows && snap.windows[chosenWindow()]) || snap;
  const windowS = view.window_s || snap.window_s || 60;
  const idle = "in this period";
  setText("window", WINDOW_WORDS[windowS] || `${windowS} seconds`);
  setText("delivered", number(view.totals.delivered));
  setText("rejected", number(view.totals.rejected));
  // The hub's own rates: over the part of the window the hub has been up, not the whole window.
  const rate = (rows) => rows.reduce((sum, row) => sum + row.per_s, 0);
  setText("delivered-rate", number(rate(view.flow_by_contract), 2));
  setText("rejected-rate", number(rate(view.rejections), 2));
  setText("p50", ms(view.latency_ms.p50));
  setText("p95", ms(view.latency_ms.p95));
  setText("p99", ms(view.latency_ms.p99));

  drawFlow(snap.series || []);
  fill("series-rows", [...(snap.series || [])].reverse().map((p) => ({ cells: [clock(p.t), number(p.delivered), number(p.rejected)] })),
    "No figures yet", { count: 3, firstNumeric: 1 });
  fill("contract-rows", view.flow_by_contract.map((c) => ({ key: c.contract, cells: [c.contract, number(c.per_s, 2), number(c.count)] })),
    `Nothing delivered ${idle}`, { count: 3, firstNumeric: 1 });
  drawPairs(view.flow_by_pair);
  fill("pair-rows", view.flow_by_pair.map((p) => ({ key: `${p.sender}>${p.recipient}`, cells: [p.sender, p.recipient, number(p.per_s, 2), number(p.count)] })),
    `Nothing delivered ${idle}`, { count: 4, firstNumeric: 2 });
  fill("rejection-rows", view.rejections.map((r) => ({ key: r.reason, cells: [r.reason, sentence(r.reason), number(r.count)] })),
    `Nothing refused ${idle}`, { count: 3, firstNumeric: 2 });
  fill("lag-rows", snap.lag.map((l) => ({ key: l.agency, cells: [l.agency, l.status === "ok" ? number(l.lag) : `unknown (${l.reason || "no figure"})`] })),
    "No agency inboxes", { count: 2, firstNumeric: 1 });

  show("section-connectors", Array.isArray(snap.connectors));
  if (Array.isArray(snap.connectors)) {
    fill("connector-rows", snap.connectors.map((c) => ({
      key: c.agency,
      cells: [c.agency, [c.status, ...(c.flags || [])].join(", "), clock(c.last_seen), c.version || "–",
        c.clock_skew_ms === null || c.clock_skew_ms === undefined ? "–" : `${number(c.clock_skew_ms)} ms`,
        day(c.key_expiry && c.key_expiry.not_after)],
    })), "No connectors registered", { count: 6, firstNumeric: 4 });
  }
  show("section-triage", Boolean(snap.triage));
  if (snap.triage) {
    setText("triage-window", snap.triage.window_s === 604800 ? "week" : seconds(snap.triage.window_s));
    setText("triage-count", number(snap.triage.count));
    setText("triage-p50", seconds(snap.triage.p50_s));
    setText("triage-p95", seconds(snap.triage.p95_s));
    setText("triage-waiting", number(snap.triage.waiting));
    setText("triage-oldest", seconds(snap.triage.oldest_wait_s));
  }
  show("section-policy", Boolean(snap.policy_effect));
  if (snap.policy_effect) {
    const kinds = [["revocation", "Agreement revoked"], ["withdrawal", "Consent withdrawn"], ["other", "Other changes"]];
    fill("policy-rows", kinds.map(([key, label]) => {
      const f = snap.policy_effect[key] || {};
      return { key, cells: [label, number(f.count || 0), ms(f.last_ms), ms(f.p50_ms), ms(f.max_ms)] };
    }), "No changes", { count: 5, firstNumeric: 1 });
  }
  show("section-dead-letters", Boolean(snap.dead_letters));
  if (snap.dead_letters) {
    setText("dl-total", number(snap.dead_letters.total || 0));
    setText("dl-waiting", number(snap.dead_letters.awaiting_replay || 0));
  }
  const missing = Object.entries(snap.sections_unavailable || {});
  const note = document.getElementById("sections-unavailable");
  note.hidden = missing.length === 0;
  note.textContent = missing.length ? `Not available this second: ${missing.map(([k, v]) => `${k} (${v})`).join(", ")}` : "";
  status.textContent = `Live: figures of ${clock(snap.generated_at)}`;
  root.dataset.generatedAt = snap.generated_at;
}

function connect() {
  const source = new EventSource(root.dataset.stream);
  source.addEventListener("snapshot", (event) => {
    try {
      render(JSON.parse(event.data));
    } catch (error) {
      status.textContent = "The latest figures could not be shown.";
      throw error;
    }
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      status.textContent = "Live updates stopped: your session may have ended. Reload the page or sign in again.";
    } else {
      status.textContent = "Reconnecting to the live figures…";
    }
  });
}

for (const radio of root.querySelectorAll('input[name="window"]')) {
  radio.addEventListener("change", () => {
    if (latest) render(latest);
  });
}

connect();
