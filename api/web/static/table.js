// A table of many buildings that stays usable at 2,000 rows: one page at a time (25 rows), searched by building
// (id or name) and filtered by building type and group; the count of matching rows and page buttons below it.
// rows: [{ building_id, cells: () => [...] }] (a row's cells are made when its page is shown); buildings: Map id ->
// { name, type, building_group } (GET /buildings).
import { el } from "./dom.js";
import { num, t } from "./i18n.js";

export const PAGE = 25;

export function pagedTable(id, head, rows, { numeric = [], buildings = new Map(), pageSize = PAGE } = {}) {
  const info = (r) => buildings.get(r.building_id) || {};
  const options = (key) => [...new Set(rows.map((r) => info(r)[key]).filter(Boolean))].sort();
  const state = { q: "", type: "", group: "", page: 0 };
  const tbody = el("tbody");
  const count = el("span", { id: `${id}-count`, class: "muted", "aria-live": "polite" });
  const prev = el("button", { type: "button", id: `${id}-prev`, onclick: () => { state.page -= 1; draw(); } }, t("tbl.prev"));
  const next = el("button", { type: "button", id: `${id}-next`, onclick: () => { state.page += 1; draw(); } }, t("tbl.next"));
  const select = (key, name, label) => {  // a filter on the buildings' `key`, state[name]
    const opts = options(key);
    if (opts.length < 2) return null;  // nothing to choose between
    return el("label", { for: `${id}-${name}` }, label, el("select", { id: `${id}-${name}`, onchange: (ev) => {
      state[name] = ev.target.value; state.page = 0; draw();
    } }, el("option", { value: "" }, t("tbl.all")), ...opts.map((o) => el("option", { value: o }, o))));
  };
  const matching = () => {
    const q = state.q.trim().toLowerCase();
    return rows.filter((r) => {
      const b = info(r);
      if (state.type && b.type !== state.type) return false;
      if (state.group && b.building_group !== state.group) return false;
      return !q || r.building_id.toLowerCase().includes(q) || (b.name || "").toLowerCase().includes(q);
    });
  };
  function draw() {
    const found = matching();
    const pages = Math.max(1, Math.ceil(found.length / pageSize));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    const first = state.page * pageSize;
    const shown = found.slice(first, first + pageSize);
    tbody.replaceChildren(...shown.map((r) => el("tr", { "data-building": r.building_id },
      ...r.cells().map((c, i) => el("td", { class: numeric.includes(i) ? "num" : null }, c)))));
    count.textContent = found.length
      ? t("tbl.count", num(first + 1), num(first + shown.length), num(found.length)) : t("tbl.none");
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
  }
  const search = el("input", { type: "search", id: `${id}-search`, placeholder: t("tbl.search.hint"),
    oninput: (ev) => { state.q = ev.target.value; state.page = 0; draw(); } });
  const controls = rows.length > pageSize ? el("div", { class: "controls" },
    el("label", { for: `${id}-search` }, t("tbl.search"), search),
    select("type", "type", t("tbl.type")), select("building_group", "group", t("tbl.group"))) : null;
  const wrap = el("div", { class: "paged", id: `${id}-table` }, controls,
    el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, h)))),
      tbody)),
    rows.length > pageSize ? el("div", { class: "pager" }, prev, count, next) : null);
  draw();
  return wrap;
}
