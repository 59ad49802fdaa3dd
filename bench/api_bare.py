"""The bare Flask baseline for bench/api.py: one endpoint returning fixed JSON bytes from memory.

    BENCH_BARE_BODY=/path/body.json gunicorn -w 2 'bench.api_bare:create_app()'

Every GET path answers the bytes of ``BENCH_BARE_BODY`` (read once at start-up)
as application/json, so the load generator can use the same path as against
the real app and only the work behind the response differs.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response


def create_app() -> Flask:
    """A Flask app whose only view returns the body file's bytes."""
    body = Path(os.environ["BENCH_BARE_BODY"]).read_bytes()
    app = Flask(__name__)

    @app.get("/", defaults={"_path": ""})
    @app.get("/<path:_path>")
    def bare(_path: str) -> Response:
        return Response(body, mimetype="application/json")

    return app
