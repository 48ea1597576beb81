// Danish (default) and English texts of the dashboard, and number/date formatting for the chosen language.
import { timeZone } from "./context.js";

const STRINGS = {
  da: {
    skip: "Spring til indhold",
    "nav.buildings": "Bygninger", "nav.portfolio": "Portefølje", "nav.label": "Hovedmenu",
    signout: "Log ud", "lang.switch": "English",
    "signin.title": "Log ind", "signin.token": "Token", "signin.submit": "Log ind",
    "signin.help": "Indsæt dit API-token (fra energiteamet eller `energiblik token create`).",
    "signin.bad": "Tokenet blev ikke godkendt.", "signin.failed": "Kunne ikke nå serveren: {0}",
    "role.admin": "administrator", "role.energy_team": "energiteam", "role.facility_manager": "driftsleder",
    "role.viewer": "læser",
    loading: "Henter …", "error.load": "Kunne ikke hente {0}: {1}",
    "nochart": "Diagrambiblioteket (Chart.js) er ikke installeret på serveren; kør deploy/stack.sh setup.",
    "b.title": "Mine bygninger", "b.title.all": "Bygninger", "b.pick": "Bygning", "b.none": "Du har ingen bygninger tilknyttet.",
    "b.area": "Opvarmet areal", "b.heating": "Opvarmning", "b.label": "Energimærke", "b.type": "Type",
    "c.title": "Forbrug", "c.res": "Periode", "c.day": "Dag", "c.week": "Uge", "c.month": "Måned", "c.year": "År",
    "c.date": "Dato", "c.prev": "Forrige periode", "c.next": "Næste periode", "c.carrier": "Energibærer",
    "c.all": "Alle energibærere", "c.weather": "Vejrkorrigeret", "c.kwh": "kWh",
    "c.empty": "Ingen måledata for {0}. Diagrammet vises, når der er data.",
    "c.partial": "Data er ufuldstændige: {0} af perioden er dækket af målte data.",
    "c.estimated": "{0} af forbruget er interpoleret eller estimeret.",
    "c.nocompare": "Ingen data til sammenligning for {0}.",
    "c.pending": "Tallene er beregnet til og med {0}. Nyere aflæsninger er modtaget, men endnu ikke beregnet; de perioder vises uden tal (ikke som 0).",
    "c.weathernote": "Vejrkorrigeret efter graddagemetoden (kun varme) med hver måneds faktor; el korrigeres ikke.",
    "c.weathernone": "Ingen graddage eller varme at korrigere i perioden; tallene er ukorrigerede.",
    "c.baselinenote": "{0} er basisåret (importeret som månedstal eller fra målinger).",
    "m.title": "Målere", "m.meter": "Måler", "m.carrier": "Energibærer", "m.last": "Seneste aflæsning",
    "m.complete": "Datadækning (30 dage)", "m.never": "aldrig", "m.none": "Bygningen har ingen målere.",
    "m.stale": "Måleren har ikke sendt data i over et døgn.",
    "m.span": "Aktiv", "m.always": "altid", "m.since": "fra {0}", "m.until": "til {0}", "m.fromto": "{0} – {1}",
    "m.replacedby": "(erstattet af {0})",
    "l.title": "LED-andel", "l.count": "efter antal armaturer", "l.watts": "efter installeret effekt",
    "l.none": "Ingen armaturer registreret for bygningen.", "l.of": "{0} af {1} armaturer er LED",
    "a.title": "Åbne alarmer", "a.none": "Ingen åbne alarmer.", "a.alert": "Alarm", "a.severity": "Alvor",
    "a.since": "Første gang", "a.state": "Status", "a.actions": "Handling", "a.ack": "Kvittér", "a.resolve": "Løs",
    "a.state.open": "åben", "a.state.acknowledged": "kvitteret", "a.done.ack": "Alarmen er kvitteret.",
    "a.done.resolve": "Alarmen er løst.", "a.readonly": "Din rolle kan ikke kvittere eller løse alarmer.",
    "pa.title": "Åbne alarmer i porteføljen", "pa.building": "Bygning", "pa.wasted": "Spildt kWh",
    "pa.more": "… og {0} flere (se den enkelte bygning)",
    "p.title": "Porteføljen", "p.t1": "T1: energiforbrug −{0} % i {1} mod {2}", "p.year": "År",
    "p.reduction": "Reduktion (vejrkorrigeret)", "p.forecast": "prognose for hele året",
    "p.sofar": "målt indtil nu: {0} hele måned(er) mod de samme måneder i {1}", "p.forecast.verdict": "Prognose for hele året",
    "p.target": "Mål", "p.required": "Krævet på lige vej", "p.coverage": "Datadækning", "p.verdict": "Vurdering",
    "p.pending": "Tallene er beregnet til og med {0}: aflæsninger fra {1} bygning(er) er endnu ikke beregnet, så tallene kan ændre sig.",
    "r.pending": "(beregnes)",
    "p.because": "Usikker fordi:", "p.lfl": "Sammenlignelige bygninger", "p.intensity": "kWh/m²",
    "v.on_track": "På rette spor", "v.off_track": "Ikke på rette spor", "v.uncertain": "Usikker",
    "p.path": "Vejen mod {0}", "p.path.required": "Krævet reduktion (lige vej)", "p.path.actual": "Faktisk reduktion",
    "p.path.forecast": "Prognose {0}", "p.path.empty": "Ingen år med data at vise på vejen mod målet.",
    "p.path.missing": "År uden data: {0}.",
    "r.title": "Rangering af bygninger", "r.building": "Bygning", "r.reduction": "Reduktion",
    "r.saving": "Besparelse kWh", "r.gap": "Mangler til mål kWh", "r.coverage": "Dækning", "r.none": "Ingen bygninger med data.",
    "tbl.search": "Søg bygning", "tbl.search.hint": "navn eller id", "tbl.type": "Type", "tbl.group": "Gruppe",
    "tbl.all": "Alle", "tbl.prev": "Forrige", "tbl.next": "Næste", "tbl.count": "{0}–{1} af {2}",
    "tbl.none": "Ingen bygninger matcher.",
    "led.title": "T2: LED-udrulning", "led.none": "Ingen armaturer registreret.",
    "f.title": "T3: Udfasning af olie og gas", "f.none": "Ingen bygninger fyrer med olie eller gas.",
    "f.kwh": "kWh {0}", "f.heating": "Registreret opvarmning", "f.count": "{0} bygninger bruger stadig olie eller gas (mål: {1})",
    "f.converted": "Omstillet fra olie eller gas ({0})", "f.from": "Før", "f.to": "Nu", "f.until": "Omstillet",
    "lab.title": "T4: Energimærker", "lab.registered": "Registreret", "lab.measured": "Målt klasse",
    "lab.kwhm2": "kWh/m²", "lab.potential": "Besparelsespotentiale kWh", "lab.without": "Uden energimærke (over 250 m²): {0}",
    "lab.note": "Målt klasse er en indikator ud fra forbruget, ikke et energimærke.",
    "co2.title": "CO₂ (T6)", "co2.kg": "kg CO₂ {0}", "co2.change": "Ændring mod {0}", "co2.carrier": "Energibærer",
    "ga.title": "Grønt regnskab og eksport", "ga.html": "Åbn grønt regnskab {0} (udskrivbart)",
    "ga.csv": "Hent grønt regnskab {0} (CSV)", "ga.cons": "Hent månedsforbrug {0} (CSV)",
    "ga.help": "Filerne hentes med dit token og gemmes i din browser.",
    "src.title": "Datakilder", "src.source": "Kilde", "src.status": "Seneste kørsel", "src.last": "Afsluttet",
    "src.stored": "Rækker gemt", "src.errors": "Fejl", "src.next": "Næste kørsel", "src.unmapped": "Målepunkter uden måler",
    "src.off": "Ikke slået til", "src.never": "Aldrig kørt", "src.status.ok": "OK", "src.status.partial": "Delvis (se fejl)",
    "src.status.failed": "Fejlet", "src.status.running": "Kører",
    "src.name.eloverblik": "Eloverblik (DataHub)", "src.name.utility": "Forsyningens eksportfiler",
    "src.name.dmi": "DMI graddage", "src.name.energidataservice": "Energi Data Service (CO₂ pr. time)",
    "src.noscheduler": "Planlæggeren (python -m ingest.sync) kører ikke: kilderne hentes kun, når nogen kører energiblik sync.",
    "src.help": "Målepunkter uden måler registreres med deres GSRN/målernummer som ekstern id; næste kørsel henter deres data.",
    "carrier.electricity": "El", "carrier.district_heating": "Fjernvarme", "carrier.natural_gas": "Naturgas",
    "carrier.oil": "Olie", "carrier.heat_pump": "Varmepumpe", "carrier.ev_charging": "Elbilsladning",
    "carrier.water": "Vand", "carrier.pv_production": "Solcelleproduktion",
    "heating.district_heating": "Fjernvarme", "heating.natural_gas": "Naturgas", "heating.oil": "Olie",
    "heating.heat_pump": "Varmepumpe", "heating.electric": "El", "heating.other": "Andet",
    "week": "uge {0}", "yes": "ja", "no": "nej",
  },
  en: {
    skip: "Skip to content",
    "nav.buildings": "Buildings", "nav.portfolio": "Portfolio", "nav.label": "Main menu",
    signout: "Sign out", "lang.switch": "Dansk",
    "signin.title": "Sign in", "signin.token": "Token", "signin.submit": "Sign in",
    "signin.help": "Paste your API token (from the energy team or `energiblik token create`).",
    "signin.bad": "The token was not accepted.", "signin.failed": "Could not reach the server: {0}",
    "role.admin": "administrator", "role.energy_team": "energy team", "role.facility_manager": "facility manager",
    "role.viewer": "viewer",
    loading: "Loading …", "error.load": "Could not load {0}: {1}",
    "nochart": "The chart library (Chart.js) is not installed on the server; run deploy/stack.sh setup.",
    "b.title": "My buildings", "b.title.all": "Buildings", "b.pick": "Building", "b.none": "No buildings are assigned to you.",
    "b.area": "Heated area", "b.heating": "Heating", "b.label": "Energy label", "b.type": "Type",
    "c.title": "Consumption", "c.res": "Period", "c.day": "Day", "c.week": "Week", "c.month": "Month", "c.year": "Year",
    "c.date": "Date", "c.prev": "Previous period", "c.next": "Next period", "c.carrier": "Carrier",
    "c.all": "All energy carriers", "c.weather": "Weather-corrected", "c.kwh": "kWh",
    "c.empty": "No measured data for {0}. The chart appears when there is data.",
    "c.partial": "Data is incomplete: {0} of the period is backed by measured data.",
    "c.estimated": "{0} of the consumption is interpolated or estimated.",
    "c.nocompare": "No data to compare for {0}.",
    "c.pending": "Figures computed through {0}. Newer readings have arrived but are not computed yet; those periods are shown without figures (not as 0).",
    "c.weathernote": "Weather-corrected with the degree-day method (heat only) using each month's factor; electricity is not corrected.",
    "c.weathernone": "No degree days or heat to correct in the period; the figures are uncorrected.",
    "c.baselinenote": "{0} is the baseline year (imported as monthly figures or from readings).",
    "m.title": "Meters", "m.meter": "Meter", "m.carrier": "Carrier", "m.last": "Last reading",
    "m.complete": "Data completeness (30 days)", "m.never": "never", "m.none": "The building has no meters.",
    "m.stale": "The meter has not reported for more than a day.",
    "m.span": "Active", "m.always": "always", "m.since": "since {0}", "m.until": "until {0}", "m.fromto": "{0} – {1}",
    "m.replacedby": "(replaced by {0})",
    "l.title": "LED share", "l.count": "by number of luminaires", "l.watts": "by installed power",
    "l.none": "No luminaires registered for the building.", "l.of": "{0} of {1} luminaires are LED",
    "a.title": "Open alerts", "a.none": "No open alerts.", "a.alert": "Alert", "a.severity": "Severity",
    "a.since": "First seen", "a.state": "State", "a.actions": "Action", "a.ack": "Acknowledge", "a.resolve": "Resolve",
    "a.state.open": "open", "a.state.acknowledged": "acknowledged", "a.done.ack": "The alert is acknowledged.",
    "a.done.resolve": "The alert is resolved.", "a.readonly": "Your role cannot acknowledge or resolve alerts.",
    "pa.title": "Open alerts in the portfolio", "pa.building": "Building", "pa.wasted": "Wasted kWh",
    "pa.more": "… and {0} more (see each building)",
    "p.title": "The portfolio", "p.t1": "T1: energy use −{0} % by {1} against {2}", "p.year": "Year",
    "p.reduction": "Reduction (weather-corrected)", "p.forecast": "forecast for the whole year",
    "p.sofar": "measured so far: {0} complete month(s) against the same months of {1}", "p.forecast.verdict": "Forecast for the whole year",
    "p.target": "Target", "p.required": "Required on a straight path", "p.coverage": "Data coverage", "p.verdict": "Verdict",
    "p.pending": "Figures computed through {0}: readings of {1} building(s) are not computed yet, so the figures may change.",
    "r.pending": "(computing)",
    "p.because": "Uncertain because:", "p.lfl": "Like-for-like", "p.intensity": "kWh/m²",
    "v.on_track": "On track", "v.off_track": "Off track", "v.uncertain": "Uncertain",
    "p.path": "The path to {0}", "p.path.required": "Required reduction (straight path)", "p.path.actual": "Actual reduction",
    "p.path.forecast": "Forecast {0}", "p.path.empty": "No years with data to show on the path to the target.",
    "p.path.missing": "Years without data: {0}.",
    "r.title": "Ranking of buildings", "r.building": "Building", "r.reduction": "Reduction",
    "r.saving": "Saving kWh", "r.gap": "Gap to target kWh", "r.coverage": "Coverage", "r.none": "No buildings with data.",
    "tbl.search": "Find building", "tbl.search.hint": "name or id", "tbl.type": "Type", "tbl.group": "Group",
    "tbl.all": "All", "tbl.prev": "Previous", "tbl.next": "Next", "tbl.count": "{0}–{1} of {2}",
    "tbl.none": "No buildings match.",
    "led.title": "T2: LED rollout", "led.none": "No luminaires registered.",
    "f.title": "T3: Oil and gas phase-out", "f.none": "No buildings burn oil or gas.",
    "f.kwh": "kWh {0}", "f.heating": "Registered heating", "f.count": "{0} buildings still use oil or gas (target: {1})",
    "f.converted": "Converted from oil or gas ({0})", "f.from": "Before", "f.to": "Now", "f.until": "Converted",
    "lab.title": "T4: Energy labels", "lab.registered": "Registered", "lab.measured": "Measured class",
    "lab.kwhm2": "kWh/m²", "lab.potential": "Saving potential kWh", "lab.without": "Without an energy label (over 250 m²): {0}",
    "lab.note": "The measured class is an indicator from consumption, not an energy label.",
    "co2.title": "CO₂ (T6)", "co2.kg": "kg CO₂ {0}", "co2.change": "Change against {0}", "co2.carrier": "Carrier",
    "ga.title": "Green accounts and exports", "ga.html": "Open green accounts {0} (printable)",
    "ga.csv": "Download green accounts {0} (CSV)", "ga.cons": "Download monthly consumption {0} (CSV)",
    "ga.help": "Files are fetched with your token and saved by your browser.",
    "src.title": "Data sources", "src.source": "Source", "src.status": "Last run", "src.last": "Finished",
    "src.stored": "Rows stored", "src.errors": "Errors", "src.next": "Next run", "src.unmapped": "Metering points without a meter",
    "src.off": "Not enabled", "src.never": "Never run", "src.status.ok": "OK", "src.status.partial": "Partial (see errors)",
    "src.status.failed": "Failed", "src.status.running": "Running",
    "src.name.eloverblik": "Eloverblik (DataHub)", "src.name.utility": "Utility export files",
    "src.name.dmi": "DMI degree days", "src.name.energidataservice": "Energi Data Service (hourly CO₂)",
    "src.noscheduler": "The scheduler (python -m ingest.sync) is not running: sources are fetched only when someone runs energiblik sync.",
    "src.help": "Register a meter with the metering point's GSRN or meter number as its external id; the next run fetches its data.",
    "carrier.electricity": "Electricity", "carrier.district_heating": "District heating",
    "carrier.natural_gas": "Natural gas", "carrier.oil": "Oil", "carrier.heat_pump": "Heat pump",
    "carrier.ev_charging": "EV charging", "carrier.water": "Water", "carrier.pv_production": "Solar PV production",
    "heating.district_heating": "District heating", "heating.natural_gas": "Natural gas", "heating.oil": "Oil",
    "heating.heat_pump": "Heat pump", "heating.electric": "Electric", "heating.other": "Other",
    "week": "week {0}", "yes": "yes", "no": "no",
  },
};

const KEY = "energiblik.lang";
let lang = localStorage.getItem(KEY) === "en" ? "en" : "da";

export function getLang() { return lang; }
export function locale() { return lang === "en" ? "en-GB" : "da-DK"; }

export function setLang(l) {
  lang = l === "en" ? "en" : "da";
  localStorage.setItem(KEY, lang);
  applyStatic();
}

/** The text for `key` in the current language, with {0}, {1}… replaced by `args`. */
export function t(key, ...args) {
  const s = STRINGS[lang][key] ?? STRINGS.da[key] ?? key;
  return s.replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)] ?? ""));
}

// Number formats made once per language, style and digits (making one costs far more than formatting with it).
const formats = new Map();
function numberFormat(style, digits) {
  const key = `${locale()}|${style}|${digits}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.NumberFormat(locale(), { style, minimumFractionDigits: digits, maximumFractionDigits: digits });
    formats.set(key, f);
  }
  return f;
}

export function num(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return numberFormat("decimal", digits).format(x);
}

export function pct(share, digits = 0) {  // share 0..1
  if (share === null || share === undefined) return "–";
  return numberFormat("percent", digits).format(share);
}

export function dateTime(iso) {
  if (!iso) return t("m.never");
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short",
                                             timeZone: timeZone() }).format(new Date(iso));
}

/** Texts of the static page (elements with data-i18n), the language button and <html lang>. */
export function applyStatic() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const btn = document.getElementById("lang");
  btn.textContent = t("lang.switch");
  btn.lang = lang === "da" ? "en" : "da";
  document.getElementById("nav").setAttribute("aria-label", t("nav.label"));
}
