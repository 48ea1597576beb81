// Chart.js (the UMD build served from the npm install) with the dashboard's defaults: no animation, readable
// colours (also distinguishable by line style), and one chart per canvas id.
export const COLOURS = { current: "#0b4f8a", last: "#b45309", base: "#4a4a4a", required: "#a4161a", actual: "#0b4f8a" };

const charts = {};
window.energiblik = window.energiblik || {};
window.energiblik.charts = charts;

export function chartAvailable() { return typeof window.Chart === "function"; }

/** Draw (or redraw) the chart on `canvas`; `config` is a Chart.js configuration. */
export function draw(canvas, config) {
  const id = canvas.id;
  if (charts[id]) { charts[id].destroy(); delete charts[id]; }
  if (!chartAvailable()) return null;
  const legend = { position: "bottom", labels: { color: "#1b1b1b", font: { size: 13 }, usePointStyle: true } };
  const given = config.options || {};
  config.options = {
    animation: false, responsive: true, maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    ...given,
    plugins: { ...given.plugins, legend },
  };
  charts[id] = new window.Chart(canvas, config);
  return charts[id];
}
