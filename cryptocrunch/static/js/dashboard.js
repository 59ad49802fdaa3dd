// Dashboard: each market's % change and volatility rank over the chosen window, from the rankings API.
"use strict";

(() => {
  const select = document.getElementById("change-window");
  const table = document.getElementById("markets-table");
  if (!select || !table) return;

  const { getJSON } = window.cryptocrunch;

  async function rankings(metric, window) {
    const body = await getJSON(`/api/v1/rankings?metric=${metric}&window=${window}&limit=1000`);
    return new Map(body.map((row) => [`${row.exchange}|${row.pair}`, row]));
  }

  // A tiny line of the market's last prices over the window (30 buckets), drawn without Chart.js.
  async function sparkline(row, window) {
    const canvas = row.querySelector("canvas.sparkline");
    if (!canvas) return;
    const url = `/api/v1/markets/${encodeURIComponent(row.dataset.exchange)}/${row.dataset.pair.replace("/", "-")}/prices?window=${window}&points=30`;
    let points;
    try {
      points = (await getJSON(url)).map((p) => p.last);
    } catch {
      return; // the market has no prices in this window: no sparkline
    }
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, canvas.width, canvas.height);
    canvas.dataset.points = String(points.length);
    if (points.length < 2) return;
    const low = Math.min(...points), high = Math.max(...points);
    const y = (v) => canvas.height - 2 - ((v - low) / (high - low || 1)) * (canvas.height - 4);
    context.strokeStyle = points[points.length - 1] >= points[0] ? "#1e7d4f" : "#c0392b";
    context.lineWidth = 1.5;
    context.beginPath();
    points.forEach((v, i) => {
      const x = (i / (points.length - 1)) * (canvas.width - 2) + 1;
      if (i === 0) context.moveTo(x, y(v)); else context.lineTo(x, y(v));
    });
    context.stroke();
  }

  async function load() {
    try {
      const [changes, volatility] = await Promise.all([rankings("pct_change", select.value), rankings("volatility", select.value)]);
      Array.from(table.tBodies[0].rows).forEach((row) => {
        const key = `${row.dataset.exchange}|${row.dataset.pair}`;
        const change = changes.get(key);
        const rank = volatility.get(key);
        const changeCell = row.querySelector(".change");
        const rankCell = row.querySelector(".rank");
        changeCell.dataset.value = change ? change.value : "";
        changeCell.textContent = change ? `${change.value.toFixed(2)} %` : "–";
        changeCell.title = change ? "" : "fewer than 3 ticks in this window";
        rankCell.dataset.value = rank ? rank.rank : "";
        rankCell.textContent = rank ? rank.rank : "–";
      });
      await Promise.all(Array.from(table.tBodies[0].rows).map((row) => sparkline(row, select.value)));
      table.dataset.loaded = select.value;
    } catch (error) {
      table.caption.textContent = `Latest tick of every market (could not load changes: ${error.message})`;
    }
  }

  select.addEventListener("change", load);
  load();
})();
