// cryptocrunch's own browser code: small helpers shared by the pages.
"use strict";

window.cryptocrunch = (() => {
  // Prices span BTC (60,000) to SHIB (0.00001): keep about six significant digits.
  function formatPrice(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const magnitude = Math.abs(value);
    const digits = magnitude >= 1000 ? 2 : magnitude >= 1 ? 4 : Math.min(12, 2 - Math.floor(Math.log10(magnitude)) + 3);
    return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }

  // Local time for reading, UTC on hover.
  function localizeTimes(root = document) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) return;
      el.title = when.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
      el.textContent = when.toLocaleString();
    });
  }

  // Tables with class "sortable": a header button sorts by its column (again: reverse).
  function sortable(table) {
    table.querySelectorAll("thead button[data-sort]").forEach((button) => {
      button.addEventListener("click", () => {
        const th = button.closest("th");
        const index = Array.from(th.parentNode.children).indexOf(th);
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const numeric = button.dataset.sort === "number";
        const key = (row) => {
          const cell = row.cells[index];
          if (!numeric) return cell.textContent.trim().toLowerCase();
          const value = cell.dataset.value;
          return value === "" || value === undefined ? null : Number(value);
        };
        const rows = Array.from(table.tBodies[0].rows);
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          if (x === y) return 0;
          if (x === null) return 1; // blanks last either way
          if (y === null) return -1;
          return (x < y ? -1 : 1) * (ascending ? 1 : -1);
        });
        table.tBodies[0].append(...rows);
      });
    });
  }

  // <input class="table-filter" data-table=ID>: show only rows containing the typed text.
  function filterable(input) {
    const table = document.getElementById(input.dataset.table);
    input.addEventListener("input", () => {
      const needle = input.value.trim().toLowerCase();
      Array.from(table.tBodies[0].rows).forEach((row) => {
        row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
      });
    });
  }

  // GET JSON from our API; no-cache makes the browser revalidate with If-None-Match, so an
  // unchanged answer costs a 304. An error answer throws with the API's message.
  async function getJSON(url) {
    const response = await fetch(url, { cache: "no-cache", headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    return body;
  }

  // For a loader whose answers may arrive out of order (a window button clicked while the last
  // answer is on its way): `const current = ask();` before the request, `if (!current()) return;`
  // after it, so only the newest request's answer is drawn.
  function newestOnly() {
    let latest = 0;
    return () => {
      const asked = ++latest;
      return () => asked === latest;
    };
  }

  // Options shared by the time charts: time axis, prices on y, local + UTC tooltip title, zoom/pan on x.
  function timeChartOptions() {
    return {
      animation: false,
      normalized: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: false },
      scales: { x: { type: "time" }, y: { ticks: { callback: (v) => formatPrice(v) } } },
      plugins: {
        tooltip: {
          callbacks: {
            title: (items) => (items.length ? new Date(items[0].parsed.x).toLocaleString() + " (" + new Date(items[0].parsed.x).toISOString() + ")" : ""),
          },
        },
        zoom: { pan: { enabled: true, mode: "x" }, zoom: { wheel: { enabled: true }, pinch: { enabled: true }, mode: "x" } },
      },
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("table.sortable").forEach(sortable);
    document.querySelectorAll("input.table-filter").forEach(filterable);
    localizeTimes();
    document.querySelectorAll("[data-price]").forEach((el) => {
      el.textContent = formatPrice(Number(el.dataset.price));
    });
  });

  return { formatPrice, localizeTimes, getJSON, newestOnly, timeChartOptions };
})();
