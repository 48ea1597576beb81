// The facility manager's building view: building picker, consumption against the same period in the baseline
// year and last year (optionally weather-corrected, by carrier), meters with last reading and completeness, LED
// share and the open alerts with acknowledge and resolve.
import { get, post } from "./api.js";
import { chartAvailable, COLOURS, draw } from "./charts.js";
import { dateTime, locale, num, pct, t } from "./i18n.js";
import { el, status } from "./dom.js";
import { baselineYear, isEnergy, timeZone, today } from "./context.js";

const view = { buildingId: null, res: "year", date: null, carrier: "", weather: false };
const parse = (s) => { const [y, m, d] = s.split("-").map(Number); return new Date(Date.UTC(y, m - 1, d)); };
const ymd = (d) => d.toISOString().slice(0, 10);
const addDays = (d, n) => new Date(d.getTime() + n * 86_400_000);

function sameDateIn(d, year) {  // the same calendar date in another year (29 February becomes 28 February)
  const last = new Date(Date.UTC(year, d.getUTCMonth() + 1, 0)).getUTCDate();
  return new Date(Date.UTC(year, d.getUTCMonth(), Math.min(d.getUTCDate(), last)));
}

/** The local period of resolution `res` holding date `d`: [start, end) and the API resolution of its buckets. */
function period(res, d) {
  if (res === "day") return { start: d, end: addDays(d, 1), bucket: "hour" };
  if (res === "week") { const mon = addDays(d, -((d.getUTCDay() + 6) % 7)); return { start: mon, end: addDays(mon, 7), bucket: "day" }; }
  if (res === "month") {
    const s = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
    return { start: s, end: new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)), bucket: "day" };
  }
  return { start: new Date(Date.UTC(d.getUTCFullYear(), 0, 1)), end: new Date(Date.UTC(d.getUTCFullYear() + 1, 0, 1)), bucket: "month" };
}

function step(res, d, dir) {
  if (res === "day") return addDays(d, dir);
  if (res === "week") return addDays(d, 7 * dir);
  if (res === "month") return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + dir, 1));
  return new Date(Date.UTC(d.getUTCFullYear() + dir, 0, 1));
}

function periodName(res, p) {
  const loc = locale();
  const f = (o) => new Intl.DateTimeFormat(loc, { timeZone: "UTC", ...o }).format(p.start);
  if (res === "day") return f({ dateStyle: "long" });
  if (res === "week") return `${t("week", isoWeek(p.start))} ${p.start.getUTCFullYear()}`;
  if (res === "month") return f({ month: "long", year: "numeric" });
  return String(p.start.getUTCFullYear());
}

function isoWeek(d) {
  const th = addDays(d, 3 - ((d.getUTCDay() + 6) % 7));
  const jan4 = new Date(Date.UTC(th.getUTCFullYear(), 0, 4));
  return 1 + Math.round(((th - jan4) / 86_400_000 - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
}

// A period's label: an instant in the installation's time zone, or (the year view's months) a YYYY-MM month.
function bucketLabel(res, label) {
  if (res === "year") {
    const [y, m] = label.split("-").map(Number);
    return new Intl.DateTimeFormat(locale(), { timeZone: "UTC", month: "short" }).format(new Date(Date.UTC(y, m - 1, 1)));
  }
  const d = new Date(label);
  const o = { timeZone: timeZone() };
  if (res === "day") return new Intl.DateTimeFormat(locale(), { ...o, hour: "2-digit", minute: "2-digit" }).format(d);
  if (res === "week") return new Intl.DateTimeFormat(locale(), { ...o, weekday: "short", day: "numeric" }).format(d);
  return new Intl.DateTimeFormat(locale(), { ...o, day: "numeric" }).format(d);  // month: its days
}

const children = (...kids) => kids.filter((k) => k !== null && k !== undefined);

export async function renderBuildings(root, me) {
  root.replaceChildren(el("p", { text: t("loading") }));
  view.date = view.date || today();
  const buildings = await get("/buildings");
  const title = el("h1", { text: me.role === "facility_manager" ? t("b.title") : t("b.title.all") });
  if (!buildings.length) { root.replaceChildren(title, el("p", { class: "notice empty", text: t("b.none") })); return; }
  if (!buildings.some((b) => b.id === view.buildingId)) view.buildingId = buildings[0].id;
  const select = el("select", { id: "building-select", onchange: async (ev) => {
    view.buildingId = ev.target.value; view.carrier = "";
    await renderBuilding(body, me, buildings.find((b) => b.id === view.buildingId));
  } }, ...buildings.map((b) => el("option", { value: b.id, selected: b.id === view.buildingId },
    `${b.name} (${b.id})${b.open_alerts ? ` – ${b.open_alerts} ⚠` : ""}`)));
  const picker = el("div", { class: "controls" }, el("label", { for: "building-select" }, t("b.pick"), select));
  const body = el("div", { id: "building-body" });
  root.replaceChildren(title, picker, body);
  await renderBuilding(body, me, buildings.find((b) => b.id === view.buildingId));
}

async function renderBuilding(root, me, b) {
  const facts = el("p", { class: "muted", id: "building-facts" },
    `${t("b.type")}: ${b.type} · ${t("b.area")}: ${num(b.heated_area_m2)} m² · ${t("b.heating")}: ${t(`heating.${b.heating}`)}`
    + ` · ${t("b.label")}: ${b.energy_label || "–"}`);
  const chartCard = el("section", { class: "card wide", "aria-labelledby": "chart-title" });
  const metersCard = el("section", { class: "card span2", "aria-labelledby": "meters-title" });
  const ledCard = el("section", { class: "card", "aria-labelledby": "led-title" });
  const alertsCard = el("section", { class: "card wide", "aria-labelledby": "alerts-title" });
  root.replaceChildren(el("h2", { id: "building-name", text: b.name }), facts,
    el("div", { class: "grid" }, chartCard, metersCard, ledCard, alertsCard));
  const meters = await get("/meter-status", { building_id: b.id });
  await Promise.all([
    renderChartCard(chartCard, b, meters),
    renderMeters(metersCard, meters),
    renderLed(ledCard, b),
    renderAlerts(alertsCard, b, me),
  ]);
}

// A render of the chart card superseded by a later one (the user clicked again before the answers came) draws
// nothing: it would destroy the newer chart and draw on a canvas no longer in the page.
let chartRenders = 0;

async function renderChartCard(card, b, meters) {
  const render = ++chartRenders;
  const carriers = [...new Set(meters.filter((m) => !m.parent_meter_id && isEnergy(m.carrier)).map((m) => m.carrier))];
  if (view.carrier && !carriers.includes(view.carrier)) view.carrier = "";
  const resButtons = ["day", "week", "month", "year"].map((r) => el("button", {
    type: "button", "aria-pressed": String(view.res === r), "data-res": r,
    onclick: () => { view.res = r; renderChartCard(card, b, meters); } }, t(`c.${r}`)));
  const dateInput = el("input", { type: "date", id: "chart-date", value: view.date, onchange: (ev) => {
    if (ev.target.value) { view.date = ev.target.value; renderChartCard(card, b, meters); } } });
  const nav = (dir, label, sym) => el("button", { type: "button", "aria-label": t(label), title: t(label), onclick: () => {
    view.date = ymd(step(view.res, parse(view.date), dir)); renderChartCard(card, b, meters); } }, sym);
  const carrierSel = el("select", { id: "chart-carrier", onchange: (ev) => { view.carrier = ev.target.value; renderChartCard(card, b, meters); } },
    el("option", { value: "", selected: !view.carrier }, t("c.all")),
    ...carriers.map((c) => el("option", { value: c, selected: view.carrier === c }, t(`carrier.${c}`))));
  const weather = el("input", { type: "checkbox", id: "chart-weather", role: "switch", checked: view.weather,
    "aria-checked": String(view.weather), onchange: (ev) => { view.weather = ev.target.checked; renderChartCard(card, b, meters); } });
  const canvas = el("canvas", { id: "consumption-chart", role: "img" });
  const box = el("div", { class: "chart-box" }, canvas);
  const notes = el("div", { id: "chart-notes", "aria-live": "polite" });
  card.replaceChildren(
    el("h2", { id: "chart-title", text: t("c.title") }),
    el("div", { class: "controls" },
      el("div", { role: "group", "aria-label": t("c.res"), class: "seg" }, ...resButtons),
      el("div", { class: "seg" }, nav(-1, "c.prev", "◀"), nav(1, "c.next", "▶")),
      el("label", { for: "chart-date" }, t("c.date"), dateInput),
      el("label", { for: "chart-carrier" }, t("c.carrier"), carrierSel),
      el("label", { for: "chart-weather", class: "inline" }, weather, t("c.weather"))),
    box, notes);

  const d = parse(view.date);
  const year = d.getUTCFullYear();
  const years = [year, year - 1, baselineYear()].filter((y, i, a) => a.indexOf(y) === i);
  const p = period(view.res, d);
  const carrier = view.carrier || null;
  // The year view draws the months of /weather-corrected (the baseline year's imported figures where there are
  // some); the other views the periods of /consumption, or of /consumption/weather-corrected with the switch on,
  // where the server has applied each month's weather-correction factor.
  const monthly = view.res === "year" ? await get("/weather-corrected", { building_id: b.id, year: years, carrier }) : null;
  const factors = [];  // the weather-correction factors of what is drawn (null: not corrected)

  // A pending period (readings stored, not yet computed) has no amount: drawn as a gap and said in a note, never 0.
  const through = [monthly?.computed_through];
  // the quality of the shown window, as the server weighs it (its periods already over, each by its length)
  let quality = { coverage: 0, estimated_share: 0, complete: false };
  const series = await Promise.all(years.map(async (y) => {
    if (view.res === "year") {
      const my = monthly.years.find((x) => x.year === y);
      if (y === year) quality = my;
      return my.months.map((m) => {
        factors.push(m.factor);
        return { label: m.month, kwh: view.weather ? m.normalised_kwh : m.kwh, has: m.kwh !== null,
                 pending: !!m.pending };
      });
    }
    const py = period(view.res, sameDateIn(d, y));
    const params = { building_id: b.id, carrier, start: ymd(py.start), end: ymd(py.end), resolution: py.bucket };
    const c = await get(view.weather ? "/consumption/weather-corrected" : "/consumption", params);
    through.push(c.computed_through);
    if (y === year) quality = c;
    return c.series.map((x) => {
      const pending = !!x.pending || x.kwh === null;
      const has = !pending && (x.coverage > 0 || x.kwh > 0);
      if (view.weather) factors.push(x.factor);
      const kwh = has ? (view.weather ? x.normalised_kwh : x.kwh) : null;
      return { label: x.start, kwh, has, pending };
    });
  }));
  if (render !== chartRenders) return;
  const hasData = (s) => s.some((x) => x.has && x.kwh !== null);
  const name = periodName(view.res, p);
  const msgs = [];
  const pendingNow = series.some((s) => s.some((x) => x.pending));
  const earliest = through.filter(Boolean).sort((a, b) => new Date(a) - new Date(b))[0];
  if (pendingNow) msgs.push(["pending", t("c.pending", earliest ? dateTime(earliest) : "–")]);
  if (!hasData(series[0]) && !series[0].some((x) => x.pending)) msgs.push(["empty", t("c.empty", name)]);
  else {
    if (!quality.complete) msgs.push(["", t("c.partial", pct(quality.coverage))]);
    if (quality.estimated_share > 0) msgs.push(["", t("c.estimated", pct(quality.estimated_share))]);
  }
  years.slice(1).forEach((y, i) => { if (!hasData(series[i + 1])) msgs.push(["", t("c.nocompare", y)]); });
  if (view.weather) {
    const corrected = factors.some((f) => f !== null && f !== 1);
    msgs.push(["", corrected ? t("c.weathernote") : t("c.weathernone")]);
  }
  notes.replaceChildren(...msgs.map(([cls, text]) => el("p", { class: `notice ${cls}`, text })));

  if (!series.some(hasData) || !chartAvailable()) {
    box.hidden = true;
    if (!chartAvailable()) notes.append(el("p", { class: "notice empty", text: t("nochart") }));
    return;
  }
  const labels = series[0].map((x) => bucketLabel(view.res, x.label));
  const ds = (i, y, colour, type, dash) => ({
    label: `${view.res === "year" ? y : periodName(view.res, period(view.res, sameDateIn(d, y)))}`, type,
    data: labels.map((_, j) => series[i][j]?.kwh ?? null), backgroundColor: colour, borderColor: colour,
    borderDash: dash, pointRadius: type === "line" ? 3 : 0, spanGaps: false, order: type === "bar" ? 2 : 1,
  });
  const datasets = [ds(0, years[0], COLOURS.current, "bar")];
  if (years.length > 1 && hasData(series[1])) datasets.push(ds(1, years[1], COLOURS.last, "line", [6, 3]));
  if (years.length > 2 && hasData(series[2])) datasets.push(ds(2, years[2], COLOURS.base, "line", [2, 3]));
  canvas.setAttribute("aria-label", `${t("c.title")} ${name}, kWh`);
  draw(canvas, { type: "bar", data: { labels, datasets }, options: {
    scales: { y: { beginAtZero: true, title: { display: true, text: view.weather ? `kWh (${t("c.weather")})` : "kWh" },
                   ticks: { callback: (v) => num(v) } } },
    plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${num(c.parsed.y, 1)} kWh` } } },
  } });
}

// The meter's active span [active_from, active_to) as local dates, and what replaced it.
function span(m) {
  const day = (iso) => new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeZone: timeZone() })
    .format(new Date(iso));
  const text = m.active_from ? (m.active_to ? t("m.fromto", day(m.active_from), day(m.active_to)) : t("m.since", day(m.active_from)))
    : (m.active_to ? t("m.until", day(m.active_to)) : t("m.always"));
  return m.replaced_by ? `${text} ${t("m.replacedby", m.replaced_by)}` : text;
}

async function renderMeters(card, meters) {
  const head = el("h2", { id: "meters-title", text: t("m.title") });
  if (!meters.length) { card.replaceChildren(head, el("p", { class: "notice empty", text: t("m.none") })); return; }
  // the server judges: installed now, silent (no reading for a day), incomplete (under 95 %)
  const rows = meters.map((m) => {
    const stale = m.silent;
    const incomplete = m.incomplete;
    return el("tr", { "data-meter": m.meter_id, class: m.installed ? "" : "muted" },
      el("td", {}, m.meter_id), el("td", {}, t(`carrier.${m.carrier}`)),
      el("td", { "data-span": "" }, span(m)),
      el("td", { class: stale ? "bad" : "", title: stale ? t("m.stale") : null }, dateTime(m.last_reading)),
      el("td", { class: `num ${incomplete ? "bad" : ""}` }, pct(m.completeness)));
  });
  card.replaceChildren(head, el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("m.meter")), el("th", { scope: "col" }, t("m.carrier")),
      el("th", { scope: "col" }, t("m.span")),
      el("th", { scope: "col" }, t("m.last")), el("th", { scope: "col", class: "num" }, t("m.complete")))),
    el("tbody", {}, ...rows))));
}

async function renderLed(card, b) {
  const led = await get("/led", { building_id: b.id });
  const head = el("h2", { id: "led-title", text: t("l.title") });
  const mine = led.buildings.find((x) => x.building_id === b.id);
  if (!mine) { card.replaceChildren(head, el("p", { class: "notice empty", text: t("l.none") })); return; }
  card.replaceChildren(head, el("div", { class: "figures" },
    el("div", {}, el("p", { class: "figure", id: "led-share" }, pct(mine.led_share_count)), el("span", {}, t("l.count"))),
    el("div", {}, el("p", { class: "figure" }, pct(mine.led_share_watts)), el("span", {}, t("l.watts")))),
    el("p", { class: "muted" }, t("l.of", num(mine.led), num(mine.luminaires))));
}

async function renderAlerts(card, b, me) {
  const alerts = await get("/alerts", { building_id: b.id, state: "active" });
  const head = el("h2", { id: "alerts-title", text: t("a.title") });
  if (!alerts.length) { card.replaceChildren(head, el("p", { class: "muted", text: t("a.none") })); return; }
  const act = (a, what) => el("button", { type: "button", "data-action": what, onclick: async (ev) => {
    ev.target.disabled = true;
    await post(`/alerts/${a.id}/${what}`);
    status(t(what === "acknowledge" ? "a.done.ack" : "a.done.resolve"));
    await renderAlerts(card, b, me);
  } }, t(what === "acknowledge" ? "a.ack" : "a.resolve"));
  const rows = alerts.map((a) => el("tr", { "data-alert": a.id },
    el("td", {}, el("strong", {}, a.title), el("br"), el("span", { class: "muted" }, a.rule)),
    el("td", {}, a.severity), el("td", {}, dateTime(a.first_seen)), el("td", {}, t(`a.state.${a.state}`)),
    me.can_handle_alerts ? el("td", {}, el("div", { class: "actions" },
      a.state === "open" ? act(a, "acknowledge") : null, act(a, "resolve"))) : null));
  card.replaceChildren(...children(head, me.can_handle_alerts ? null : el("p", { class: "muted", text: t("a.readonly") }),
    el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("a.alert")), el("th", { scope: "col" }, t("a.severity")),
        el("th", { scope: "col" }, t("a.since")), el("th", { scope: "col" }, t("a.state")),
        me.can_handle_alerts ? el("th", { scope: "col" }, t("a.actions")) : null)),
      el("tbody", {}, ...rows)))));
}
