"""What goes into each browser bundle: plain data, read by cryptocrunch.assets at run time and by
setup.py when a wheel is built (so the wheel carries static/gen without node_modules)."""

#: name -> (files in load order, relative to static/ or node_modules/; output under static/)
BUNDLES: dict[str, tuple[tuple[str, ...], str]] = {
    # Chart.js first, then what registers itself with it.
    "vendor_js": (
        (
            "chart.js/dist/chart.umd.min.js",
            "hammerjs/hammer.min.js",
            "chartjs-plugin-zoom/dist/chartjs-plugin-zoom.min.js",
            "chartjs-adapter-date-fns/dist/chartjs-adapter-date-fns.bundle.min.js",
            "chartjs-chart-financial/dist/chartjs-chart-financial.min.js",
        ),
        "gen/vendor.js",
    ),
    "app_js": (("js/app.js",), "gen/app.js"),
    "pair_js": (("js/pair.js", "js/candles.js", "js/book.js"), "gen/pair.js"),
    "dashboard_js": (("js/dashboard.js",), "gen/dashboard.js"),
    "coin_js": (("js/coin.js",), "gen/coin.js"),
}
