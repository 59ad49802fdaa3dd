// Coin page: market cap (left axis) and rank (right axis, 1 at the top) from /api/v1/caps/<coin>.
"use strict";

(async () => {
  const canvas = document.getElementById("coin-chart");
  if (!canvas) return;
  const { formatPrice, getJSON, timeChartOptions } = window.cryptocrunch;
  const history = await getJSON(`/api/v1/caps/${encodeURIComponent(canvas.dataset.coin)}?window=${canvas.dataset.window}`);
  const options = timeChartOptions();
  options.parsing = false;
  options.scales.y.title = { display: true, text: "Market cap" };
  options.scales.rank = { position: "right", reverse: true, ticks: { precision: 0 }, title: { display: true, text: "Rank" }, grid: { drawOnChartArea: false } };
  options.plugins.tooltip.callbacks.label = (item) => `${item.dataset.label}: ${item.dataset.yAxisID === "rank" ? item.parsed.y : formatPrice(item.parsed.y)}`;
  new Chart(canvas, {
    type: "line",
    data: {
      datasets: [
        { label: "market cap", yAxisID: "y", data: history.map((r) => ({ x: r.ts, y: r.market_cap })), borderColor: "#1f5fa8", backgroundColor: "#1f5fa8", pointRadius: 2 },
        { label: "rank", yAxisID: "rank", stepped: true, data: history.map((r) => ({ x: r.ts, y: r.rank })), borderColor: "#b9770e", backgroundColor: "#b9770e", pointRadius: 2 },
      ],
    },
    options,
  });
  canvas.dataset.loaded = "1";
})();
