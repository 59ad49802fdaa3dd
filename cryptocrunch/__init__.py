"""cryptocrunch: collect exchange prices into a database and turn them into statistics and charts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import DEFAULTS, add_check, validate


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py and CRYPTOCRUNCH_* env, or ``test_config``.

    The instance folder is ``CRYPTOCRUNCH_INSTANCE_PATH`` when set (``INSTANCE_PATH``
    in ``test_config``), else Flask's default (``./instance`` in a source checkout).
    """
    settings = dict(test_config) if test_config is not None else None
    instance_path = (
        settings.pop("INSTANCE_PATH", None)
        if settings is not None
        else os.environ.get("CRYPTOCRUNCH_INSTANCE_PATH")
    )
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.from_mapping(
        DEFAULTS,
        SQLALCHEMY_DATABASE_URI="sqlite:///" + os.path.join(app.instance_path, "cryptocrunch.sqlite"),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
    )
    if settings is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("CRYPTOCRUNCH")
        app.config.pop("INSTANCE_PATH", None)
    else:
        app.config.from_mapping(settings)
    validate(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    if app.config["PROXY_COUNT"]:  # behind a reverse proxy: its X-Forwarded-* say who asked, how
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]

    from . import alerts, assets, auth, backups, cli, db, logs, retention, views, worker
    from .collector import bp as collector_bp
    from .exports import command as exports
    from .views import alerts as alert_pages
    from .views import api, health, pages

    db.init_app(app)
    auth.init_app(app)
    alerts.init_app(app)
    exports.init_app(app)
    assets.init_app(app)
    app.url_map.converters["pair"] = views.PairConverter
    app.before_request(views.refuse_nul_bytes)  # a NUL byte anywhere: 400 naming it, before any view
    app.register_blueprint(collector_bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(alert_pages.bp)
    health.init_app(app)
    cli.init_app(app)
    worker.init_app(app)
    backups.init_app(app)
    retention.init_app(app)
    add_check(app, logs.check_settings)
    api.init_app(app)
    return app
