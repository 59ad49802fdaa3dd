// Market page: order-book insights from /api/v1/markets/<exchange>/<pair>/book for the page's window:
// summary, mid-price chart with the naive trend extrapolated, spread chart (basis points).
"use strict";

(() => {
  const root = document.getElementById("book");
  const page = document.getElementById("pair");
  if (!root || !page) return;
  const { formatPrice, getJSON, localizeTimes, newestOnly, timeChartOptions } = window.cryptocrunch;
  const base = `/api/v1/markets/${root.dataset.exchange}/${page.dataset.pair}/book`;
  const message = document.getElementById("book-message");
  let windowName = page.querySelector(".window[aria-pressed=true]").dataset.window;

  function chart(id, yFormat) {
    const options = timeChartOptions();
    options.parsing = false;
    options.scales.y.ticks.callback = yFormat;
    options.plugins.tooltip.callbacks.label = (item) => `${item.dataset.label}: ${yFormat(item.parsed.y)}`;
    return new Chart(document.getElementById(id), { type: "line", data: { datasets: [] }, options });
  }
  const midChart = chart("book-mid-chart", (v) => formatPrice(v));
  const spreadChart = chart("book-spread-chart", (v) => `${Number(v).toFixed(2)} bps`);

  function when(ts) {
    const time = document.createElement("time");
    time.setAttribute("datetime", new Date(ts).toISOString());
    return time;
  }

  function summary(book) {
    const s = book.spread, d = book.depth, f = book.forecast;
    const rows = [
      ["Highest bid", formatPrice(book.highest_bid.value), book.highest_bid.ts],
      ["Lowest ask", formatPrice(book.lowest_ask.value), book.lowest_ask.ts],
      ["Spread, last", `${formatPrice(s.last)} (${s.last_bps.toFixed(2)} bps)`, book.last_ts],
      ["Spread, mean", `${formatPrice(s.mean)} (${s.mean_bps.toFixed(2)} bps)`, null],
      ["Spread, max", `${formatPrice(s.max)} (${s.max_bps.toFixed(2)} bps)`, s.max_ts],
      ["Mean depth within ±0.5 % (bid / ask)", `${formatPrice(d.bid_depth_05)} / ${formatPrice(d.ask_depth_05)}`, null],
      ["Mean depth within ±1 % (bid / ask)", `${formatPrice(d.bid_depth_1)} / ${formatPrice(d.ask_depth_1)}`, null],
      f
        ? [`Mid in ${f.horizon_seconds / 3600} h (${f.label})`, `${formatPrice(f.mid)}; slope ${formatPrice(f.slope_per_hour)}/h, R² ${f.r2.toFixed(3)}, n ${f.n}`, f.ts]
        : ["Trend", "needs 2 book tops at different times", null],
    ];
    const tbody = document.querySelector("#book-summary tbody");
    tbody.replaceChildren();
    rows.forEach(([name, value, ts]) => {
      const row = tbody.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = name;
      row.append(th);
      row.insertCell().textContent = value;
      const cell = row.insertCell();
      if (ts !== null) cell.append(when(ts));
    });
    localizeTimes(tbody);
  }

  const ask = newestOnly();

  async function load() {
    const current = ask();
    const url = `${base}?window=${encodeURIComponent(windowName)}&points=1000`;
    try {
      const book = await getJSON(url);
      if (!current()) return;
      summary(book);
      const mid = { label: "mid", data: book.series.map((p) => ({ x: p.ts, y: p.mid })), borderColor: "#1f5fa8", backgroundColor: "#1f5fa8", pointRadius: 0, borderWidth: 1.5 };
      const datasets = [mid];
      if (book.forecast) {
        const last = book.series[book.series.length - 1];
        datasets.push({ label: "naive trend (not advice)", data: [{ x: last.ts, y: last.mid }, { x: book.forecast.ts, y: book.forecast.mid }], borderColor: "#b9770e", backgroundColor: "#b9770e", borderDash: [6, 4], pointRadius: [0, 4] });
      }
      midChart.data.datasets = datasets;
      midChart.update();
      spreadChart.data.datasets = [{ label: "spread (bps; widest per bucket)", data: book.series.map((p) => ({ x: p.ts, y: p.spread_bps })), borderColor: "#c0392b", backgroundColor: "#c0392b", pointRadius: 0, borderWidth: 1.5 }];
      spreadChart.update();
      document.getElementById("book-json").href = url;
      document.getElementById("book-csv").href = `${url}&format=csv`;
      message.hidden = true;
    } catch (error) {
      message.textContent = `Order book: ${error.message}`;
      message.hidden = false;
    }
    root.dataset.loaded = String(Number(root.dataset.loaded || 0) + 1);
  }

  page.addEventListener("windowchange", (event) => {
    windowName = event.detail;
    load();
  });
  load();
  setInterval(load, Number(page.dataset.interval) * 1000);
})();
