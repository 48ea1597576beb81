// The "Data sources" card of the portfolio view: each connector's last run (when, outcome, rows, errors), its next
// run and the metering points delivered without a meter, as GET /api/v1/sync says. It shows; it computes nothing.
import { dateTime, num, t } from "./i18n.js";
import { el } from "./dom.js";

const outcome = (s) => {
  if (!s.enabled && !s.last_run) return t("src.off");
  if (!s.last_run) return t("src.never");
  return t(`src.status.${s.last_run.status}`);
};

export function renderSources(status, card) {
  const rows = status.sources.map((s) => {
    const r = s.last_run;
    return el("tr", { "data-source": s.source, "data-status": r ? r.status : "" },
      el("th", { scope: "row", text: t(`src.name.${s.source}`) }),
      el("td", { class: r && r.status === "failed" ? "bad" : null, text: outcome(s) }),
      el("td", { text: r ? dateTime(r.finished_at || r.started_at) : "–" }),
      el("td", { class: "num", text: r ? num(r.stored) : "–" }),
      el("td", { class: "num", text: r ? num(r.rejected + r.errors) : "–" }),
      el("td", { text: s.next_run ? dateTime(s.next_run) : "–" }),
      el("td", { class: "num", text: num(s.unmapped) }));
  });
  const problems = status.sources.filter((s) => (s.enabled && s.problem) || (s.last_run && s.last_run.message
    && s.last_run.status !== "ok"));
  return card("sources", t("src.title"),
    el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ...["src.source", "src.status", "src.last", "src.stored", "src.errors", "src.next",
        "src.unmapped"].map((k, i) => el("th", { scope: "col", class: [3, 4, 6].includes(i) ? "num" : null }, t(k))))),
      el("tbody", {}, ...rows))),
    ...problems.map((s) => el("p", { class: "notice", "data-problem": s.source },
      `${t(`src.name.${s.source}`)}: ${s.enabled && s.problem ? s.problem : s.last_run.message}`)),
    status.scheduler_running ? null : el("p", { class: "notice", id: "sources-no-scheduler", text: t("src.noscheduler") }),
    el("p", { class: "muted", text: t("src.help") }));
}
