"""Flask-Assets bundles: the browser libraries from npm (node_modules) and our own scripts.

`flask assets build` (run by `make run`, `make test` and before packaging) writes them to
``static/gen/``; an installed wheel carries those files and never needs node_modules.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_assets import Bundle, Environment

#: npm files, in load order: Chart.js first, then what registers itself with it.
VENDOR_JS = (
    "chart.js/dist/chart.umd.min.js",
    "hammerjs/hammer.min.js",
    "chartjs-plugin-zoom/dist/chartjs-plugin-zoom.min.js",
    "chartjs-adapter-date-fns/dist/chartjs-adapter-date-fns.bundle.min.js",
    "chartjs-chart-financial/dist/chartjs-chart-financial.min.js",
)
APP_JS = ("js/app.js",)


def init_app(app: Flask) -> Environment:
    """Register the bundles; rebuild them on request only where node_modules is at hand."""
    node_modules = Path(app.config.get("ASSETS_NODE_MODULES") or Path(app.root_path).parent / "node_modules")
    app.config.setdefault("ASSETS_AUTO_BUILD", node_modules.is_dir())
    env = Environment(app)
    env.append_path(app.static_folder)
    env.append_path(str(node_modules))
    env.register("vendor_js", Bundle(*VENDOR_JS, output="gen/vendor.js"))
    env.register("app_js", Bundle(*APP_JS, output="gen/app.js"))
    env.register("pair_js", Bundle("js/pair.js", output="gen/pair.js"))
    env.register("dashboard_js", Bundle("js/dashboard.js", output="gen/dashboard.js"))
    return env
