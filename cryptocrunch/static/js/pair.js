// Pair page: one price line per exchange from the JSON API, a window selector, zoom/pan,
// the statistics panel with each exchange's largest move marked, refreshed every collection interval.
"use strict";

(() => {
  const root = document.getElementById("pair");
  if (!root) return;
  const { formatPrice, getJSON, newestOnly, timeChartOptions } = window.cryptocrunch;
  const pair = root.dataset.pair;
  const exchanges = JSON.parse(root.dataset.exchanges);
  const interval = Number(root.dataset.interval) * 1000;
  const message = document.getElementById("pair-message");
  const palette = ["#1f5fa8", "#c0392b", "#1e7d4f", "#8e44ad", "#b9770e", "#2c3e50"];
  let windowName = root.querySelector(".window[aria-pressed=true]").dataset.window;

  function show(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  const options = timeChartOptions();
  options.parsing = false;
  options.plugins.tooltip.callbacks.label = (item) => `${item.dataset.label}: ${formatPrice(item.parsed.y)}`;
  const chart = new Chart(document.getElementById("pair-chart"), { type: "line", data: { datasets: [] }, options });

  function cell(row, text, numeric) {
    const td = row.insertCell();
    td.textContent = text;
    if (numeric) td.className = "num";
  }

  const ask = newestOnly();

  async function load() {
    const current = ask();
    const base = `/api/v1/markets`;
    const query = `window=${encodeURIComponent(windowName)}&points=1000`;
    try {
      const [series, across] = await Promise.all([
        Promise.all(exchanges.map((ex) => getJSON(`${base}/${ex}/${pair}/prices?${query}`))),
        getJSON(`/api/v1/pairs/${pair}?window=${windowName}`),
      ]);
      if (!current()) return;
      const byName = Object.fromEntries(across.exchanges.map((e) => [e.exchange, e]));
      const stats = exchanges.map((ex) => (byName[ex] && byName[ex].stats) || { error: byName[ex] ? byName[ex].stats_error : "no data" });
      const hidden = new Set(chart.data.datasets.filter((d, i) => !chart.isDatasetVisible(i)).map((d) => d.label));
      const datasets = exchanges.map((ex, i) => ({
        label: ex,
        data: series[i].map((p) => ({ x: p.ts, y: p.last })),
        borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
        pointRadius: 0,
        borderWidth: 1.5,
        hidden: hidden.has(ex),
      }));
      stats.forEach((s, i) => {
        if (s.error) return;
        const label = `largest move (${exchanges[i]})`;
        datasets.push({
          label,
          type: "scatter",
          hidden: hidden.has(label),
          data: [{ x: s.largest_delta.ts_to, y: valueAt(series[i], s.largest_delta.ts_to) }],
          pointRadius: 7,
          pointStyle: "triangle",
          borderColor: palette[i % palette.length],
          backgroundColor: "#fff",
        });
      });
      chart.data.datasets = datasets;
      chart.update();
      const tbody = document.querySelector("#pair-stats tbody");
      tbody.replaceChildren();
      stats.forEach((s, i) => {
        const row = tbody.insertRow();
        cell(row, exchanges[i]);
        if (s.error) {
          cell(row, s.error);
          row.cells[1].colSpan = 6;
          return;
        }
        cell(row, formatPrice(s.last), true);
        cell(row, s.pct_change.toFixed(3) + " %", true);
        cell(row, formatPrice(s.stdev), true);
        cell(row, s.volatility.toPrecision(4), true);
        cell(row, formatPrice(s.largest_delta.value), true);
        cell(row, s.largest_pct_move.value.toFixed(3) + " %", true);
      });
      const spread = across.spread;
      document.getElementById("pair-spread").textContent =
        `Spread across exchanges: ${formatPrice(spread.absolute)} (${spread.pct.toFixed(3)} %) between ${formatPrice(spread.low)} and ${formatPrice(spread.high)}`;
      document.getElementById("link-json").href = `/api/v1/pairs/${pair}?window=${windowName}`;
      document.getElementById("link-csv").href = `${base}/${exchanges[0]}/${pair}/prices?${query}&format=csv`;
      show(series.every((s) => s.length === 0) ? "No data yet in this window: run flask collect." : "");
    } catch (error) {
      show(`Could not load prices: ${error.message}`);
    }
    root.dataset.loaded = String(Number(root.dataset.loaded || 0) + 1);
  }

  function valueAt(points, ts) {
    const hit = points.find((p) => p.ts >= ts) || points[points.length - 1];
    return hit ? hit.last : null;
  }

  root.querySelectorAll(".window").forEach((button) => {
    button.addEventListener("click", () => {
      windowName = button.dataset.window;
      root.querySelectorAll(".window").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      chart.resetZoom();
      load();
      root.dispatchEvent(new CustomEvent("windowchange", { detail: windowName }));
    });
  });
  document.getElementById("reset-zoom").addEventListener("click", () => chart.resetZoom());
  load();
  setInterval(load, interval);
})();
