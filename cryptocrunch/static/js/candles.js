// Candlestick chart (chartjs-chart-financial) of one market with EMA(fast)/EMA(slow) overlays and
// their crossovers marked, from /api/v1/markets/<exchange>/<pair>/candles; follows the page's window.
"use strict";

(() => {
  const root = document.getElementById("candles");
  const page = document.getElementById("pair");
  if (!root || !page) return;
  const { formatPrice, getJSON, localizeTimes, newestOnly, timeChartOptions } = window.cryptocrunch;
  const pair = page.dataset.pair;
  const message = document.getElementById("candle-message");
  const exchangeSelect = document.getElementById("candle-exchange");
  const fastInput = document.getElementById("ema-fast");
  const slowInput = document.getElementById("ema-slow");
  // With "auto", a timeframe that gives a readable number of candles for the window.
  const automatic = { "1h": "1m", "24h": "5m", "7d": "1h", "30d": "1h", all: "1d" };
  let windowName = page.querySelector(".window[aria-pressed=true]").dataset.window;
  let chosen = root.querySelector(".timeframe[aria-pressed=true]").dataset.timeframe;

  const options = timeChartOptions();
  options.plugins.tooltip.callbacks.label = (item) => {
    const p = item.raw;
    if (p.o !== undefined) return `O ${formatPrice(p.o)}  H ${formatPrice(p.h)}  L ${formatPrice(p.l)}  C ${formatPrice(p.c)}`;
    return `${item.dataset.label}: ${formatPrice(p.y)}`;
  };
  const chart = new Chart(document.getElementById("candle-chart"), { type: "candlestick", data: { datasets: [] }, options });

  function show(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function timeframe() {
    return chosen === "auto" ? automatic[windowName] : chosen;
  }

  function line(label, rows, key, color) {
    return { type: "line", label, data: rows.map((r) => ({ x: r.ts, y: r[key] })), borderColor: color, backgroundColor: color, borderWidth: 1.5, pointRadius: 0 };
  }

  function marks(label, rows, kind, color, rotation) {
    const data = rows.filter((r) => r.cross === kind).map((r) => ({ x: r.ts, y: r.close }));
    return { type: "scatter", label, data, pointStyle: "triangle", rotation, pointRadius: 8, borderColor: "#1a1a1a", backgroundColor: color };
  }

  function listCrosses(rows) {
    const tbody = document.querySelector("#crosses tbody");
    tbody.replaceChildren();
    rows.filter((r) => r.cross).reverse().forEach((r) => {
      const row = tbody.insertRow();
      row.insertCell().textContent = r.cross;
      const time = document.createElement("time");
      time.setAttribute("datetime", new Date(r.ts).toISOString());
      row.insertCell().append(time);
      const price = row.insertCell();
      price.className = "num";
      price.textContent = formatPrice(r.close);
    });
    localizeTimes(tbody);
    document.getElementById("crosses-empty").hidden = tbody.rows.length > 0;
  }

  const ask = newestOnly();

  async function load() {
    const current = ask();
    const fast = fastInput.value, slow = slowInput.value;
    const url = `/api/v1/markets/${exchangeSelect.value}/${pair}/candles?window=${encodeURIComponent(windowName)}&timeframe=${timeframe()}&fast=${fast}&slow=${slow}`;
    try {
      const rows = await getJSON(url);
      if (!current()) return;
      const hidden = new Set(chart.data.datasets.filter((d, i) => !chart.isDatasetVisible(i)).map((d) => d.label));
      const datasets = [
        { type: "candlestick", label: `${exchangeSelect.value} ${timeframe()}`, data: rows.map((r) => ({ x: r.ts, o: r.open, h: r.high, l: r.low, c: r.close })) },
        line(`EMA ${fast}`, rows, "ema_fast", "#1f5fa8"),
        line(`EMA ${slow}`, rows, "ema_slow", "#b9770e"),
        marks("golden cross", rows, "golden", "#1e7d4f", 0),
        marks("death cross", rows, "death", "#c0392b", 180),
      ];
      datasets.forEach((d) => { d.hidden = hidden.has(d.label); });
      chart.data.datasets = datasets;
      chart.update();
      listCrosses(rows);
      document.getElementById("candle-json").href = url;
      document.getElementById("candle-csv").href = `${url}&format=csv`;
      show(rows.length ? "" : "No candles in this window yet: run flask collect or flask backfill.");
    } catch (error) {
      if (!current()) return;
      show(`Could not load candles: ${error.message}`);
    }
    root.dataset.loaded = String(Number(root.dataset.loaded || 0) + 1);
  }

  root.querySelectorAll(".timeframe").forEach((button) => {
    button.addEventListener("click", () => {
      chosen = button.dataset.timeframe;
      root.querySelectorAll(".timeframe").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      chart.resetZoom();
      load();
    });
  });
  [exchangeSelect, fastInput, slowInput].forEach((input) => input.addEventListener("change", load));
  page.addEventListener("windowchange", (event) => {
    windowName = event.detail;
    chart.resetZoom();
    load();
  });
  document.getElementById("candle-reset-zoom").addEventListener("click", () => chart.resetZoom());
  load();
  setInterval(load, Number(page.dataset.interval) * 1000);
})();
