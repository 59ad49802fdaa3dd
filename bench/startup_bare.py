"""The bare baseline of bench/startup.py: a Flask app factory with the extensions cryptocrunch uses
(Flask-SQLAlchemy on SQLite, flask-smorest, Flask-Assets) and nothing of its own.

    FLASK_APP=bench.startup_bare flask --help
"""

from __future__ import annotations

from flask import Flask
from flask_assets import Environment
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


def create_app() -> Flask:
    """The same extensions, configured as little as they allow."""
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI="sqlite://", API_TITLE="bare", API_VERSION="v1", OPENAPI_VERSION="3.0.3"
    )
    db.init_app(app)
    Api(app)
    Environment(app)
    return app
