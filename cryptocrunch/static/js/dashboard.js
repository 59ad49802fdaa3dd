// Dashboard: each market's % change and volatility rank over the chosen window, from the rankings API.
"use strict";

(() => {
  const select = document.getElementById("change-window");
  const table = document.getElementById("markets-table");
  if (!select || !table) return;

  async function rankings(metric, window) {
    const response = await fetch(`/api/v1/rankings?metric=${metric}&window=${window}&limit=1000`, { cache: "no-cache" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error.message);
    return new Map(body.map((row) => [`${row.exchange}|${row.pair}`, row]));
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
      table.dataset.loaded = select.value;
    } catch (error) {
      table.caption.textContent = `Latest tick of every market (could not load changes: ${error.message})`;
    }
  }

  select.addEventListener("change", load);
  load();
})();
