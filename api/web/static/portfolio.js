// The energy team's portfolio view: T1 progress with the path to the target year and this year's forecast, the
// ranking of buildings, LED rollout (T2), fossil phase-out (T3), energy labels (T4), CO2 (T6), green accounts and
// CSV exports.
import { fetchFile, get } from "./api.js";
import { chartAvailable, COLOURS, draw } from "./charts.js";
import { dateTime, num, pct, t } from "./i18n.js";
import { el } from "./dom.js";
import { renderSources } from "./sources.js";
import { pagedTable } from "./table.js";
import { isFossilHeating, today } from "./context.js";

const view = { year: null };
const SPAN = { path: "span2", ranking: "wide", labels: "span2", alerts: "wide", sources: "span2" };
const ALERT_ROWS = 50;
const thisYear = () => Number(today().slice(0, 4));  // in the installation's time zone, as the server says

const card = (id, title, ...kids) => el("section", { class: `card ${SPAN[id] || ""}`, id, "aria-labelledby": `${id}-h` },
  el("h2", { id: `${id}-h`, text: title }), ...kids);
const table = (caption, head, rows, numeric = []) => el("div", { class: "table-wrap" }, el("table", {},
  caption ? el("caption", { text: caption }) : null,
  el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, h)))),
  el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c, i) => el("td", { class: numeric.includes(i) ? "num" : null }, c)))))));
const signedPct = (x) => (x === null || x === undefined ? "–" : `${num(x, 1)} %`);

export async function renderPortfolio(root, me) {
  root.replaceChildren(el("p", { text: t("loading") }));
  const now = thisYear();
  view.year = view.year || now;
  // every answer of the view at once; the path across years is one answer (GET /progress/path), not one per year
  const [p, path, led, fossil, labels, co2, list, alerts, sources] = await Promise.all([
    get("/progress", { year: view.year }), get("/progress/path"), get("/led"), get("/fossil"),
    get("/labels"), get("/co2"), get("/buildings"),  // the API's default year: the last complete one
    get("/alerts", { state: "active", limit: ALERT_ROWS + 1 }),
    get("/sync").catch(() => null)]);  // portfolio-wide roles only; the card is left out for the others
  const buildings = new Map(list.map((b) => [b.id, b]));
  const progressCard = renderProgress(p, now);
  const pathCard = card("path", t("p.path", p.target_year),
    el("div", { class: "chart-box" }, el("canvas", { id: "path-chart", role: "img", "aria-label": t("p.path", p.target_year) })),
    el("div", { id: "path-notes" }));
  root.replaceChildren(
    el("h1", { text: t("p.title") }),
    el("div", { class: "grid" }, progressCard, pathCard, renderAlerts(alerts, p.buildings),
      renderRanking(p, buildings), renderLed(led, buildings), renderFossil(fossil, buildings), renderCo2(co2),
      renderLabels(labels, buildings), sources ? renderSources(sources, card) : null, renderExports(co2.year)));
  renderPath(pathCard, path, now);
  void me;
}

function renderProgress(p, now) {
  const years = [];
  for (let y = p.baseline_year + 1; y <= now; y += 1) years.push(y);
  const sel = el("select", { id: "progress-year", onchange: async (ev) => {
    view.year = Number(ev.target.value);
    await renderPortfolio(document.getElementById("view-portfolio"));
  } }, ...years.reverse().map((y) => el("option", { value: y, selected: y === p.year }, String(y))));
  // A running year: the top-level figures are its complete months so far against the same months of the baseline
  // year; the whole-year forecast, with its own verdict, is p.forecast (null for a finished year).
  const current = p.forecast !== null && p.forecast !== undefined;
  const kids = [
    el("p", { class: "muted", text: t("p.t1", num(p.target_pct), p.target_year, p.baseline_year) }),
    el("div", { class: "controls" }, el("label", { for: "progress-year" }, t("p.year"), sel)),
    el("div", { class: "figures" },
      el("div", {}, el("p", { class: "figure", id: "progress-reduction", "data-value": p.reduction_pct ?? "" }, signedPct(p.reduction_pct)),
        el("span", {}, `${t("p.reduction")}${current ? ` – ${t("p.sofar", p.months_measured, p.baseline_year)}` : ""}`)),
      current ? el("div", {}, el("p", { class: "figure", id: "progress-forecast", "data-value": p.forecast.reduction_pct ?? "" },
        signedPct(p.forecast.reduction_pct)), el("span", {}, `${t("p.reduction")} – ${t("p.forecast")}`)) : null,
      el("div", {}, el("p", { class: "figure" }, signedPct(p.required_pct)), el("span", {}, t("p.required"))),
      el("div", {}, el("p", { class: "figure" }, signedPct(p.target_pct)), el("span", {}, `${t("p.target")} ${p.target_year}`))),
    el("p", {}, `${t("p.verdict")}: `, el("span", { class: `verdict ${p.verdict}`, id: "progress-verdict" }, t(`v.${p.verdict}`)),
      ` · ${t("p.coverage")}: ${pct(p.coverage)} · ${t("p.lfl")}: ${signedPct(p.like_for_like?.reduction_pct)}`
      + ` · ${t("p.intensity")}: ${num(p.intensity_kwh_per_m2?.year, 1)}`),
  ];
  if (current) {
    kids.push(el("p", {}, `${t("p.forecast.verdict")}: `,
      el("span", { class: `verdict ${p.forecast.verdict}`, id: "progress-forecast-verdict" }, t(`v.${p.forecast.verdict}`)),
      ` · ${t("p.coverage")}: ${pct(p.forecast.coverage)}`));
  }
  if (p.computed_through) {  // rollups behind the stored readings: the figures will still change
    kids.push(el("p", { class: "notice pending", id: "progress-pending" },
      t("p.pending", dateTime(p.computed_through), (p.pending_buildings || []).length)));
  }
  const because = [...(p.uncertain_because || []),
    ...(current ? p.forecast.uncertain_because.filter((r) => !(p.uncertain_because || []).includes(r))
      .map((r) => `${t("p.forecast")}: ${r}`) : [])];
  if (because.length) {
    kids.push(el("div", { class: "notice" }, el("strong", {}, t("p.because")),
      el("ul", { class: "plain" }, ...because.map((r) => el("li", {}, r)))));
  }
  if (current) kids.push(el("p", { class: "muted" }, p.forecast.method));
  return el("section", { class: "card", id: "progress", "aria-labelledby": "progress-h" },
    el("h2", { id: "progress-h", text: `${t("p.reduction")} ${p.year}` }), ...kids);
}

function renderPath(pathCard, path, now) {
  // the required straight line and the reductions reached come from the API (GET /progress/path): the baseline
  // year 0, each finished year measured, the running year's whole-year forecast, null where unknown
  const years = path.years.map((r) => r.year);
  const actual = path.years.map((r) => r.reduction_pct);
  const required = path.years.map((r) => r.required_pct);
  const notes = pathCard.querySelector("#path-notes");
  const missing = path.missing;
  const box = pathCard.querySelector(".chart-box");
  if (!actual.some((v, i) => v !== null && years[i] !== path.baseline_year)) {
    box.hidden = true;
    notes.replaceChildren(el("p", { class: "notice empty", text: t("p.path.empty") }));
    return;
  }
  if (missing.length) notes.replaceChildren(el("p", { class: "notice", text: t("p.path.missing", missing.join(", ")) }));
  if (!chartAvailable()) { box.hidden = true; notes.append(el("p", { class: "notice empty", text: t("nochart") })); return; }
  draw(pathCard.querySelector("canvas"), { type: "line", data: { labels: years.map(String), datasets: [
    { label: t("p.path.required"), data: required, borderColor: COLOURS.required, backgroundColor: COLOURS.required,
      borderDash: [6, 4], pointRadius: 0 },
    { label: `${t("p.path.actual")} (${t("p.path.forecast", now)})`, data: actual, borderColor: COLOURS.actual,
      backgroundColor: COLOURS.actual, pointRadius: years.map((y) => (y === now ? 6 : 4)),
      pointStyle: years.map((y) => (y === now ? "triangle" : "circle")), spanGaps: true },
  ] }, options: { scales: { y: { title: { display: true, text: "%" }, ticks: { callback: (v) => `${num(v)} %` } } },
    plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${num(c.parsed.y, 1)} %` } } } } });
}

// Every active alert in the caller's scope, newest first: what the product caught, where, and the waste it estimates
// (handled on each building's page). Names from the progress answer's buildings (the id where one is not there).
function renderAlerts(alerts, buildings) {
  if (!alerts.length) return card("alerts", t("pa.title"), el("p", { class: "muted", text: t("a.none") }));
  const names = new Map(buildings.map((b) => [b.building_id, b.name]));
  const shown = alerts.slice(0, ALERT_ROWS);
  return card("alerts", t("pa.title"), table(null,
    [t("pa.building"), t("a.alert"), t("a.severity"), t("pa.wasted"), t("a.since")],
    shown.map((a) => [names.has(a.building_id) ? `${names.get(a.building_id)} (${a.building_id})` : a.building_id,
      el("span", {}, el("strong", {}, a.title), el("br"), el("span", { class: "muted" }, a.rule)),
      a.severity, a.wasted_kwh === null ? "–" : num(a.wasted_kwh, a.wasted_kwh < 100 ? 1 : 0), dateTime(a.first_seen)]),
    [3]),
    alerts.length > ALERT_ROWS ? el("p", { class: "muted", text: t("pa.more", ALERT_ROWS) }) : null);
}

function renderRanking(p, buildings) {
  const rows = p.buildings.filter((b) => b.in_year || b.in_baseline);
  if (!rows.length) return card("ranking", t("r.title"), el("p", { class: "notice empty", text: t("r.none") }));
  return card("ranking", t("r.title"), pagedTable("ranking",
    ["#", t("r.building"), t("r.reduction"), t("r.saving"), t("r.gap"), t("r.coverage")],
    rows.map((b, i) => ({ building_id: b.building_id, cells: () => [String(i + 1),
      b.pending ? `${b.name} ${t("r.pending")}` : b.name, signedPct(b.reduction_pct), num(b.saving_kwh), num(b.gap_kwh),
      pct(b.coverage_lower)] })), { numeric: [0, 2, 3, 4, 5], buildings }));
}

function renderLed(led, buildings) {
  const nowPoint = led.series[led.series.length - 1];
  if (!nowPoint || !nowPoint.luminaires) return card("led", t("led.title"), el("p", { class: "notice empty", text: t("led.none") }));
  const first = led.series.find((s) => s.luminaires > 0);
  return card("led", t("led.title"),
    el("div", { class: "figures" },
      el("div", {}, el("p", { class: "figure", id: "led-portfolio" }, pct(nowPoint.led_share_count)), el("span", {}, t("l.count"))),
      el("div", {}, el("p", { class: "figure" }, pct(nowPoint.led_share_watts)), el("span", {}, t("l.watts")))),
    first && first !== nowPoint ? el("p", { class: "muted" }, `${String(first.at).slice(0, 4)}: ${pct(first.led_share_count)}`) : null,
    pagedTable("led", [t("r.building"), t("l.count"), t("l.watts")],
      led.buildings.map((b) => ({ building_id: b.building_id, cells: () => [b.building_id, pct(b.led_share_count), pct(b.led_share_watts)] })),
      { numeric: [1, 2], buildings }));
}

function renderFossil(f, buildings) {
  const still = f.buildings_still_fossil;
  const last = f.years[f.years.length - 1];
  // lifecycles: buildings whose oil or gas heating ended (registry heating history, back-dated where declared)
  const converted = (f.lifecycles || []).filter((x) => x.fossil_until);
  const fossilHeating = (x) => x.heating.filter((h) => isFossilHeating(h.heating)).pop();
  return card("fossil", t("f.title"),
    still.length ? el("p", {}, t("f.count", still.length, f.target_year)) : el("p", { class: "muted", text: t("f.none") }),
    still.length ? pagedTable("fossil-still", [t("r.building"), t("f.heating"), t("f.kwh", last)],
      still.map((b) => ({ building_id: b.building_id, cells: () => [b.building_id,
        b.registered_heating ? t(`heating.${b.registered_heating}`) : "–", num(b.kwh)] })), { numeric: [2], buildings }) : null,
    converted.length ? el("div", { id: "fossil-converted" }, el("h3", { text: t("f.converted", converted.length) }),
      pagedTable("fossil-conv", [t("r.building"), t("f.from"), t("f.to"), t("f.until")],
        converted.map((x) => {
          const was = fossilHeating(x);
          return { building_id: x.building_id, cells: () => [x.building_id, was ? t(`heating.${was.heating}`) : "–",
            x.converted_to ? t(`heating.${x.converted_to}`) : "–", String(x.fossil_until).slice(0, 10)] };
        }), { buildings })) : null);
}

function renderLabels(l, buildings) {
  return card("labels", t("lab.title"),
    pagedTable("labels", [t("r.building"), t("lab.registered"), t("lab.measured"), t("lab.kwhm2"), t("lab.potential")],
      l.buildings.map((b) => ({ building_id: b.building_id, cells: () => [b.name, b.registered_label || "–",
        b.measured_class || "–", num(b.kwh_per_m2, 1), num(b.saving_potential_kwh)] })), { numeric: [3, 4], buildings }),
    l.without_label.length ? el("p", { class: "notice" }, t("lab.without", l.without_label.join(", "))) : null,
    el("p", { class: "muted", text: `${t("lab.note")} (${l.year})` }));
}

function renderCo2(c) {
  return card("co2", t("co2.title"),
    el("div", { class: "figures" },
      el("div", {}, el("p", { class: "figure", id: "co2-kg" }, num(c.kg_co2)), el("span", {}, t("co2.kg", c.year))),
      el("div", {}, el("p", { class: "figure" }, num(c.baseline_kg_co2)), el("span", {}, t("co2.kg", c.baseline_year))),
      el("div", {}, el("p", { class: "figure" }, signedPct(c.change_pct)), el("span", {}, t("co2.change", c.baseline_year)))),
    c.by_carrier.length ? table(null, [t("co2.carrier"), t("co2.kg", c.year), t("co2.kg", c.baseline_year)],
      c.by_carrier.map((x) => [t(`carrier.${x.carrier}`), num(x.kg_co2), num(x.baseline_kg_co2)]), [1, 2]) : null,
    el("p", { class: "muted", text: c.method }));
}

function renderExports(year) {
  const btn = (id, text, fn) => el("button", { type: "button", id, onclick: fn }, text);
  return card("exports", t("ga.title"),
    el("div", { class: "actions" },
      btn("ga-html", t("ga.html", year), () => fetchFile("/green-accounts", { year, format: "html" })),
      btn("ga-csv", t("ga.csv", year), () => fetchFile("/green-accounts", { year, format: "csv" }, `green-accounts-${year}.csv`)),
      btn("cons-csv", t("ga.cons", year), () => fetchFile("/consumption", { start: `${year}-01-01`, end: `${year + 1}-01-01`,
        resolution: "month", format: "csv" }, `consumption-${year}.csv`))),
    el("p", { class: "muted", text: t("ga.help") }));
}
