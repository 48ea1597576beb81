// What the server says about the installation (GET /api/v1/me): the time zone every figure is in, today there, the
// energy target's baseline year and the carriers that are energy. Set once at sign-in; the views read it instead of
// repeating a rule of their own.
const ctx = { timezone: "UTC", today: null, baseline_year: null, energy_carriers: [] };

export function setContext(me) {
  ctx.timezone = me.timezone;
  ctx.today = me.today;
  ctx.baseline_year = me.baseline_year;
  ctx.energy_carriers = me.energy_carriers;
}

export const timeZone = () => ctx.timezone;
export const today = () => ctx.today;  // YYYY-MM-DD in the installation's time zone, as of sign-in
export const baselineYear = () => ctx.baseline_year;
export const isEnergy = (carrier) => ctx.energy_carriers.includes(carrier);
