"""What every /api/v1 resource shares: the error envelope, the query parameters of formats and
windows, CSV negotiation, turning insights' errors into HTTP answers, and the response cache with
ETags. The resource modules beside this one register their routes on child blueprints of ``bp``."""

from __future__ import annotations

import csv
import io
import threading
from typing import Any

from flask import Response, current_app, g, request
from flask_smorest import Api, Blueprint, abort
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from ... import cache as response_cache
from ...db import db
from ...errors import BadRequest, NotFound
from ...insights.params import WINDOWS, Window, minute_now, resolve_window
from ...storage import runs
from .. import PairConverter

PREFIX = "/api/v1"


class ErrorBody(Schema):
    status = fields.Int(required=True)
    message = fields.Str(required=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


class CryptoApi(Api):
    """flask-smorest's Api with our error envelope, for API paths only, that documents the
    blueprints' views when the OpenAPI document is first read (``/api/v1/openapi.json``,
    ``flask openapi``) rather than when they register: turning 27 operations' schemas into OpenAPI
    took a tenth of a second of every start-up, every CLI command included."""

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, *args, **kwargs) -> None:
        self._undocumented: list[tuple[Blueprint, str, object]] = []
        self._documenting = threading.Lock()
        super().__init__(*args, **kwargs)

    def init_app(self, app, *, spec_kwargs=None) -> None:
        self._undocumented = []  # a new app, a new document: what another app left undocumented goes
        super().init_app(app, spec_kwargs=spec_kwargs)

    @property
    def spec(self):
        spec = self.__dict__.get("_spec")
        if spec is not None and self._undocumented:
            with self._documenting:
                while self._undocumented:
                    blp, name, parameters = self._undocumented.pop(0)
                    blp.register_views_in_doc(self, self._app, spec, name=name, parameters=parameters)
                    spec.tag({"name": name, "description": blp.description})
        return spec

    @spec.setter
    def spec(self, value) -> None:
        self.__dict__["_spec"] = value

    def register_blueprint(self, blp, *, parameters=None, **options):
        """What flask-smorest's does, with the documentation left for the first read of the spec."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def handle_http_exception(self, error: HTTPException):
        if not request.path.startswith(PREFIX):
            return error  # pages keep Flask's own error pages
        data = getattr(error, "data", None) or {}
        message = data.get("message") or error.description
        messages = data.get("messages")
        if messages:  # webargs validation: name each bad parameter (or the body, when it is not JSON)
            details = [
                f"{name}: {' '.join(map(str, errs))}"
                for location, found in messages.items()
                for name, errs in (found.items() if isinstance(found, dict) else [(location, found)])
            ]
            message = "; ".join(details)
        response = current_app.json.response({"error": {"status": error.code, "message": message}})
        response.status_code = error.code
        return response


def pair_schema(_converter: BaseConverter) -> dict:
    return {"type": "string", "pattern": f"^{PairConverter.regex}$", "example": "BTC-USD"}


api = CryptoApi()


#: The parent of every resource blueprint: its prefix, cache and ETag hooks apply to all of them.
bp = Blueprint("api", __name__, url_prefix=PREFIX, description="Prices, statistics and rankings")


class FormatArgs(Schema):
    format = fields.Str(validate=validate.OneOf(["json", "csv"]), metadata={"description": "csv for CSV"})


class WindowArgs(Schema):
    window = fields.Str(
        validate=validate.OneOf(list(WINDOWS)), metadata={"description": "default 24h; or start/end"}
    )
    start = fields.Str(metadata={"description": "ISO 8601 with time zone, or epoch ms"})
    end = fields.Str(metadata={"description": "ISO 8601 with time zone, or epoch ms (inclusive)"})


CSV_RESPONSE = {
    "description": "rows as JSON, or as CSV with format=csv or Accept: text/csv",
    "content_type": "text/csv",
    "schema": {"type": "string"},
    "success": True,
}


def wants_csv(args: dict) -> bool:
    """format=csv, or an Accept header that prefers text/csv to JSON (JSON wins ties and */*)."""
    if args.get("format"):
        return args["format"] == "csv"
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def rows(data: Any, schema: Schema, args: dict, name: str) -> Any:
    """Return ``data`` for flask-smorest to serialise, or the same rows as a CSV response."""
    if not wants_csv(args):
        return data
    rows = schema.dump(data, many=True)
    out = io.StringIO()
    fieldnames = [f.data_key or name for name, f in schema.dump_fields.items()]
    writer = csv.DictWriter(out, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'inline; filename="{name}.csv"'}
    )


def window_of(args: dict) -> Window:
    try:
        return resolve_window(args.get("window"), args.get("start"), args.get("end"))
    except BadRequest as error:
        abort(400, message=str(error))


def call(fn, *args, **kwargs):
    """Run an insights function; unknown names are 404s, impossible requests 400/422."""
    try:
        return fn(*args, **kwargs)
    except NotFound as error:
        abort(404, message=str(error))
    except BadRequest as error:
        abort(400, message=str(error))
    except ValueError as error:  # too few ticks in the window
        abort(422, message=str(error))


def _count(result: str) -> None:
    from ... import metrics  # loaded by the first request already (views/health.py)

    metrics.RESPONSE_CACHE.labels(result).inc()


def _finish(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


@bp.record_once
def _set_up_cache(state) -> None:
    response_cache.init_app(state.app)  # CACHE_REDIS_URL: Redis, else this process's (cache.py)


@bp.before_request
def from_cache() -> Response | None:
    """Answer a GET from the cache when nothing changed since it was computed (``X-Cache: hit``)."""
    if request.method != "GET" or request.blueprint in UNCACHED:
        return None
    key = (
        request.full_path,
        request.headers.get("Accept", ""),
        runs.data_version(db.session),
        minute_now(),
    )
    try:
        entry = response_cache.backend().get(key)
    except response_cache.CacheUnavailable:  # Redis is down: said once, answered uncached
        g.cache_key = None
        _count("error")
        return None
    _count("miss" if entry is None else "hit")
    if entry is None:
        g.cache_key = key
        return None
    body, mimetype, etag, headers = entry
    response = Response(body, mimetype=mimetype, headers=list(headers))
    response.set_etag(etag)
    response.headers["X-Cache"] = "hit"
    return _finish(response)


#: Headers a cached answer gets afresh (or never keeps); the view's others are kept with it.
OWN_HEADERS = frozenset({"content-type", "content-length", "etag", "cache-control", "x-cache", "set-cookie"})


@bp.after_request
def to_cache(response: Response) -> Response:
    """ETag every successful GET (an unchanged refresh costs a 304) and keep it for the next asker."""
    if request.method == "GET" and response.status_code == 200 and not response.direct_passthrough:
        response.add_etag()
        if "cache_key" in g:  # looked up and missed: computed now
            key = g.pop("cache_key")
            response.headers["X-Cache"] = "miss"
            if key is not None:
                headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in OWN_HEADERS)
                entry = (response.get_data(), response.mimetype, response.get_etag()[0], headers)
                response_cache.backend().put(key, entry)
        return _finish(response)
    return response


#: Resources answered afresh every time: what a user owns is cheap to read, changes without
#: bumping the data version, and must never be served from another user's cached answer.
UNCACHED: set[str] = set()


def child(name: str, description: str, cached: bool = True) -> Blueprint:
    """The blueprint of one resource, registered under ``bp`` (its /api/v1 prefix, error envelope
    and, unless ``cached`` is false, the response cache) by ``views.api.init_app``."""
    if not cached:
        UNCACHED.add(f"{bp.name}.{name}")
    return Blueprint(name, __name__, description=description)
