"""Flask-Assets bundles (defined in ``bundles.py``): the browser libraries from npm
(node_modules) and our own scripts, written to ``static/gen/``.

`flask assets build` (run by `make run` and `make test`) and a wheel build (setup.py) produce
them; an installed wheel carries those files and never needs node_modules.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_assets import Bundle, Environment

from .bundles import BUNDLES


def init_app(app: Flask) -> Environment:
    """Register the bundles; rebuild them on request only where node_modules is at hand."""
    node_modules = Path(app.config.get("ASSETS_NODE_MODULES") or Path(app.root_path).parent / "node_modules")
    app.config.setdefault("ASSETS_AUTO_BUILD", node_modules.is_dir())
    env = Environment(app)
    env.append_path(app.static_folder)
    env.append_path(str(node_modules))
    for name, (files, output) in BUNDLES.items():
        env.register(name, Bundle(*files, output=output))
    return env
