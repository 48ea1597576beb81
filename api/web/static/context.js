// What the server says about the installation (GET /api/v1/me): the time zone every figure is in (today is taken in
// it), the energy target's baseline year, the carriers that are energy and the heating that is fossil. Set once at
// sign-in; the views read it instead of repeating a rule of their own.
const ctx = { timezone: "UTC", baseline_year: null, energy_carriers: [], fossil_heating: [] };

export function setContext(me) {
  ctx.timezone = me.timezone;
  ctx.baseline_year = me.baseline_year;
  ctx.energy_carriers = me.energy_carriers;
  ctx.fossil_heating = me.fossil_heating;
}

export const timeZone = () => ctx.timezone;
// YYYY-MM-DD in the installation's time zone, now (not as of sign-in: a page left open past midnight moves on)
export const today = () => {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: ctx.timezone, year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(new Date());
  const part = (type) => parts.find((x) => x.type === type).value;
  return `${part("year")}-${part("month")}-${part("day")}`;
};
export const baselineYear = () => ctx.baseline_year;
export const isEnergy = (carrier) => ctx.energy_carriers.includes(carrier);
export const isFossilHeating = (heating) => ctx.fossil_heating.includes(heating);
