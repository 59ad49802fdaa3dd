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

  document.addEventListener("DOMContentLoaded", () => {
    localizeTimes();
    document.querySelectorAll("[data-price]").forEach((el) => {
      el.textContent = formatPrice(Number(el.dataset.price));
    });
  });

  return { formatPrice, localizeTimes };
})();
