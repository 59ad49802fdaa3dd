// Dashboard: the markets table sorted, filtered and paged on the server through
// /api/v1/markets/table (the page arrives with its first page rendered), and a sparkline for each
// row shown, all from one /api/v1/sparklines request, drawn with Chart.js.
"use strict";

(() => {
  const table = document.getElementById("markets-table");
  const form = document.getElementById("markets-form");
  if (!table || !form) return;

  const { getJSON, formatPrice, localizeTimes, newestOnly } = window.cryptocrunch;
  const pager = document.getElementById("markets-pager");
  const message = document.getElementById("markets-message");
  const filter = document.getElementById("markets-q");
  const PAIR_URL = /^[A-Za-z0-9.]+\/[A-Za-z0-9.]+$/; // as the pair_url template test
  const SPARKLINE_POINTS = 48;
  const DEFAULTS = { q: "", exchange: "", quote: "", window: "24h", sort: "pair", order: "asc", page: "1", per_page: "50" };
  const ask = newestOnly();

  // What the table shows now: the form's fields, the sort and the page.
  function state() {
    const fields = Object.fromEntries(new FormData(form));
    return { ...fields, sort: table.dataset.sort, order: table.dataset.order, page: table.dataset.page };
  }

  // The parameters that differ from the defaults, as a query string (the page's URL and the API's).
  function query(params) {
    const kept = Object.entries(params).filter(([key, value]) => String(value) !== DEFAULTS[key]);
    return new URLSearchParams(kept).toString();
  }

  function cell(text, className, value) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (value !== undefined) td.dataset.value = value === null ? "" : String(value);
    td.textContent = text;
    return td;
  }

  function link(href, text) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  // Canvases of the rows taken down, with their charts: a new row's sparkline reuses one, as
  // updating a chart costs half of making one.
  const spare = [];

  const number = (value, format) => (value === null ? "–" : format(value));

  // One row as the template renders it.
  function row(market) {
    const tr = document.createElement("tr");
    tr.dataset.exchange = market.exchange;
    tr.dataset.pair = market.pair;
    const urlable = PAIR_URL.test(market.pair);
    const pair = document.createElement("td");
    pair.append(urlable ? link(`/pairs/${market.pair.replace("/", "-")}`, market.pair) : market.pair);
    const exchange = document.createElement("td");
    exchange.append(link(`/exchanges/${encodeURIComponent(market.exchange)}`, market.exchange));
    const change = cell(number(market.pct_change, (v) => `${v.toFixed(2)} %`), "num change", market.pct_change);
    if (market.pct_change === null) change.title = "fewer than 3 ticks in this window";
    const trend = document.createElement("td");
    if (urlable) {
      let canvas = spare.pop();
      if (!canvas) {
        canvas = document.createElement("canvas");
        canvas.className = "sparkline";
        canvas.width = 100;
        canvas.height = 24;
      }
      delete canvas.dataset.points;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${market.pair} on ${market.exchange}, last prices over the window`);
      trend.append(canvas);
    }
    const time = document.createElement("time");
    time.setAttribute("datetime", new Date(market.ts).toISOString());
    const when = cell("", "", market.ts);
    when.append(time);
    tr.append(
      pair,
      exchange,
      cell(formatPrice(market.last), "num", market.last),
      change,
      cell(number(market.volatility, (v) => v.toPrecision(3)), "num volatility", market.volatility),
      cell(number(market.volatility_rank, String), "num rank", market.volatility_rank),
      trend,
      cell(formatPrice(market.bid), "num", market.bid),
      cell(formatPrice(market.ask), "num", market.ask),
      cell(number(market.quote_volume, (v) => v.toLocaleString(undefined, { maximumFractionDigits: 0 })), "num volume", market.quote_volume),
      when,
    );
    return tr;
  }

  // The headers' sort state and links, the pager, the caption, from one API answer.
  function frame(body, params) {
    Object.assign(table.dataset, { total: body.total, page: body.page, pages: body.pages, sort: body.sort, order: body.order, window: body.window });
    table.querySelectorAll("thead a[data-sort]").forEach((a) => {
      const th = a.closest("th");
      const current = a.dataset.sort === body.sort;
      const next = current && body.order === "asc" ? "desc" : "asc";
      a.href = `/?${query({ ...params, sort: a.dataset.sort, order: next, page: 1 })}`;
      if (current) th.setAttribute("aria-sort", body.order === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
      th.querySelector(".arrow").textContent = current ? (body.order === "asc" ? " ▲" : " ▼") : "";
    });
    table.querySelector("caption .window").textContent = body.window;
    table.querySelector("caption .matching").textContent = body.total.toLocaleString("en-US");
    pager.querySelector(".page").textContent = body.page;
    pager.querySelector(".pages").textContent = body.pages;
    const targets = { first: 1, prev: body.page - 1, next: body.page + 1, last: body.pages };
    pager.querySelectorAll("a[data-page]").forEach((a) => {
      const target = targets[a.dataset.rel];
      a.dataset.page = target;
      a.href = `/?${query({ ...params, page: target })}`;
      a.hidden = target < 1 || target > body.pages || target === body.page;
    });
  }

  function show(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  // A sparkline's chart: a line and nothing else, drawn once.
  function sparkline(points, color) {
    return {
      type: "line",
      data: { datasets: [{ data: points, borderColor: color, borderWidth: 1.5, pointRadius: 0, tension: 0 }] },
      options: {
        animation: false,
        responsive: false,
        parsing: false,
        normalized: true,
        events: [], // a picture: no hover, no tooltip
        scales: { x: { type: "linear", display: false }, y: { display: false } },
        plugins: { legend: { display: false }, tooltip: { enabled: false }, zoom: false },
      },
    };
  }

  // The visible rows' sparklines from one request; a canvas's data-points says how many it drew.
  async function sparklines(window, current) {
    const rows = Array.from(table.tBodies[0].rows).filter((tr) => tr.querySelector("canvas.sparkline"));
    if (!rows.length) return;
    const names = rows.map((tr) => `${tr.dataset.exchange}:${tr.dataset.pair.replace("/", "-")}`);
    const url = `/api/v1/sparklines?markets=${encodeURIComponent(names.join(","))}&window=${window}&points=${SPARKLINE_POINTS}`;
    const body = await getJSON(url);
    if (!current()) return;
    const found = new Map(body.sparklines.map((s) => [`${s.exchange}|${s.pair}`, s]));
    rows.forEach((tr) => {
      const line = found.get(`${tr.dataset.exchange}|${tr.dataset.pair}`);
      const canvas = tr.querySelector("canvas.sparkline");
      const prices = line ? line.last : [];
      canvas.dataset.points = String(prices.length);
      const points = prices.length < 2 ? [] : prices.map((y, x) => ({ x, y }));
      const color = prices[prices.length - 1] >= prices[0] ? "#1e7d4f" : "#c0392b";
      const chart = Chart.getChart(canvas);
      if (chart) {
        Object.assign(chart.data.datasets[0], { data: points, borderColor: color });
        chart.update("none");
      } else if (points.length) {
        new Chart(canvas, sparkline(points, color));
      }
    });
  }

  // Ask the API for the table as `params` say, draw it and its sparklines, and put the state in the URL.
  async function load(params) {
    const current = ask();
    try {
      const body = await getJSON(`/api/v1/markets/table?${query(params)}`);
      if (!current()) return;
      const tbody = table.tBodies[0];
      tbody.querySelectorAll("canvas.sparkline").forEach((canvas) => {
        const chart = Chart.getChart(canvas);
        if (!chart) return;
        chart.clear();
        spare.push(canvas);
      });
      tbody.replaceChildren(...body.markets.map(row));
      if (!body.markets.length) {
        const none = cell("No market matches these filters.", "");
        none.colSpan = table.tHead.rows[0].cells.length;
        const tr = document.createElement("tr");
        tr.className = "none";
        tr.append(none);
        tbody.append(tr);
      }
      localizeTimes(tbody);
      frame(body, params);
      form.elements.sort.value = body.sort;
      form.elements.order.value = body.order;
      history.replaceState(null, "", `/${query(params) ? "?" + query(params) : ""}`);
      show("");
      await sparklines(body.window, current);
      if (current()) table.dataset.loaded = String(Number(table.dataset.loaded) + 1);
    } catch (error) {
      if (current()) show(`Could not load the markets: ${error.message}`);
    }
  }

  table.tHead.addEventListener("click", (event) => {
    const a = event.target.closest("a[data-sort]");
    if (!a) return;
    event.preventDefault();
    const now = state();
    const order = now.sort === a.dataset.sort && now.order === "asc" ? "desc" : "asc";
    load({ ...now, sort: a.dataset.sort, order, page: 1 });
  });
  pager.addEventListener("click", (event) => {
    const a = event.target.closest("a[data-page]");
    if (!a) return;
    event.preventDefault();
    load({ ...state(), page: a.dataset.page });
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load({ ...state(), page: 1 });
  });
  form.addEventListener("change", (event) => {
    if (event.target !== filter) load({ ...state(), page: 1 });
  });
  let typing;
  filter.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => load({ ...state(), page: 1 }), 150); // once typing pauses
  });

  // The first page came with the HTML: only its sparklines are asked for.
  const first = ask();
  sparklines(table.dataset.window, first)
    .then(() => {
      if (first()) table.dataset.loaded = "1";
    })
    .catch((error) => show(`Could not load the sparklines: ${error.message}`));
})();
