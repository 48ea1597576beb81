// The dashboard: token sign-in, the facility manager's building view, the energy team's portfolio view.
import { ApiError, get, setToken, token } from "./api.js";
import { applyStatic, getLang, setLang, t } from "./i18n.js";
import { renderBuildings } from "./building.js";
import { renderPortfolio } from "./portfolio.js";
import { setContext } from "./context.js";
import { status } from "./dom.js";

const state = { me: null, view: null };
window.energiblik = { state, ready: false };

const $ = (id) => document.getElementById(id);

function showSignin(message) {
  state.me = null;
  $("signin").hidden = false;
  $("nav").hidden = true;
  $("signout").hidden = true;
  $("who").textContent = "";
  $("view-buildings").hidden = true;
  $("view-portfolio").hidden = true;
  $("signin-error").textContent = message || "";
  $("token").focus();
}

async function signIn(tok) {
  try {
    const me = await get("/me", null, tok);
    setToken(tok);
    state.me = me;
    setContext(me);
  } catch (e) {
    setToken(null);
    showSignin(e instanceof ApiError && (e.status === 401 || e.status === 403) ? t("signin.bad")
      : t("signin.failed", e.message));
    return;
  }
  $("signin").hidden = true;
  $("signout").hidden = false;
  $("nav").hidden = false;
  $("tab-portfolio").hidden = !state.me.portfolio;
  const wanted = window.location.hash.replace("#", "");
  await show(state.me.portfolio && wanted !== "buildings" ? "portfolio" : "buildings");
}

function renderWho() {
  if (!state.me) return;
  $("who").textContent = `${state.me.name} (${t(`role.${state.me.role}`)})`;
}

async function show(view) {
  state.view = view;
  window.energiblik.ready = false;
  delete window.energiblik.completeAt;
  for (const v of ["buildings", "portfolio"]) {
    $(`view-${v}`).hidden = v !== view;
    const tab = $(`tab-${v}`);
    if (v === view) tab.setAttribute("aria-current", "page"); else tab.removeAttribute("aria-current");
  }
  history.replaceState(null, "", `#${view}`);
  renderWho();
  status("");
  try {
    if (view === "buildings") await renderBuildings($("view-buildings"), state.me);
    else await renderPortfolio($("view-portfolio"), state.me);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { setToken(null); showSignin(t("signin.bad")); return; }
    status(t("error.load", view, e.message));
  }
  window.energiblik.ready = true;
  // "complete": every card of the view has rendered (and its charts are drawn); two animation frames later a frame
  // with all of it has been painted. The time since navigation start, for the benchmark (bench/targets_bench.py).
  requestAnimationFrame(() => requestAnimationFrame(() => {
    if (window.energiblik.ready && state.view === view) window.energiblik.completeAt = performance.now();
  }));
}

function init() {
  applyStatic();
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn($("token").value.trim());
  });
  $("signout").addEventListener("click", () => { setToken(null); $("token").value = ""; showSignin(""); });
  $("lang").addEventListener("click", async () => {
    setLang(getLang() === "da" ? "en" : "da");
    if (state.me) await show(state.view); else showSignin($("signin-error").textContent ? t("signin.bad") : "");
  });
  for (const b of document.querySelectorAll("nav .tab")) b.addEventListener("click", () => show(b.dataset.view));
  if (!window.Chart) status(t("nochart"));
  const tok = token();
  if (tok) signIn(tok); else showSignin("");
}

init();
