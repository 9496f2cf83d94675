// Charts with Chart.js when the server has it (Debian's libjs-chart.js); otherwise a table and a one-line note.
import { h, table } from "./ui.js";

const palette = ["#1a73e8", "#e37400", "#1e8e3e", "#d93025", "#9334e6", "#12b5cb", "#f9ab00", "#5f6368"];

export function chartsAvailable() { return typeof window.Chart === "function"; }

/// `series`: [{label, values}] over `labels`. `kind`: "bar" or "line".
export function chart(title, kind, labels, series, options = {}) {
  const box = h("div", { class: "card", dataset: { test: "chart" } }, h("h3", {}, title));
  // The numbers behind the chart, for screen readers and anyone who wants them exactly.
  const numbers = () => table([options.axis ?? "Label", ...series.map(s => s.label)],
    labels.map((label, index) => h("tr", {}, h("td", {}, label),
      series.map(s => h("td", { class: "num" }, s.values[index] ?? "—")))));
  if (!chartsAvailable()) {
    box.append(
      h("p", { class: "muted small", dataset: { test: "chart-fallback" } },
        "Charts need Chart.js on the server (apt install libjs-chart.js); showing a table instead."),
      numbers());
    return box;
  }
  const canvas = h("canvas", { role: "img", "aria-label": `${title}: chart; the numbers follow in a table` });
  box.append(h("div", { class: "chart-box" }, canvas),
    h("details", { class: "chart-numbers", dataset: { test: "chart-numbers" } }, h("summary", {}, "Show the numbers"), numbers()));
  queueMicrotask(() => new window.Chart(canvas, {
    type: kind,
    data: {
      labels,
      datasets: series.map((s, index) => ({
        label: s.label, data: s.values, borderColor: palette[index % palette.length],
        backgroundColor: kind === "bar" ? palette[index % palette.length] + "cc" : palette[index % palette.length] + "33",
        tension: 0.25, spanGaps: true, fill: false,
      })),
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      scales: { y: { beginAtZero: true, suggestedMax: options.max } },
      plugins: { legend: { display: series.length > 1 } },
    },
  }));
  return box;
}
