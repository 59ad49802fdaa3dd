"""JSON API under /api/v1, documented by flask-smorest (OpenAPI 3: /api/v1/openapi.json; docs:
/api/v1/docs), one module per resource. Every list endpoint also answers CSV (``?format=csv`` or
``Accept: text/csv``). Errors share one envelope: ``{"error": {"status": 404, "message": "..."}}``.

A view imports the insights module it calls in its body, so that start-up (and every command)
does not load pandas: only the schemas and parameters are needed to register the routes.
"""

from __future__ import annotations

import swagger_ui_bundle
from flask import Flask, Response, send_from_directory

from .. import PairConverter
from . import alerts, books, candles, caps, channels, exchanges, markets, pairs, rankings, runs, sparklines
from .common import PREFIX, api, bp, pair_schema

RESOURCES = (markets, sparklines, rankings, pairs, candles, books, caps, exchanges, runs, channels, alerts)
for _resource in RESOURCES:
    bp.register_blueprint(_resource.bp)


def init_app(app: Flask) -> None:
    """Register the API, its OpenAPI document and the offline docs page."""
    app.config.setdefault("API_TITLE", "cryptocrunch")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", f"{PREFIX}/docs/assets/")
    # An API token (Authorization: Bearer) works on every endpoint; market data needs none unless
    # REQUIRE_LOGIN is on, so "no security" is an alternative too.
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{}, {"bearerAuth": []}] if not app.config["REQUIRE_LOGIN"] else [{"bearerAuth": []}],
        },
    )
    api.init_app(app)
    api.register_converter(PairConverter, pair_schema)
    api.register_blueprint(bp)

    @app.get(f"{PREFIX}/docs/assets/<path:filename>")
    def swagger_assets(filename: str) -> Response:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
