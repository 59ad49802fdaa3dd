"""What every /api/v1 resource shares: the error envelope, the query parameters of formats and
windows, CSV negotiation, turning insights' errors into HTTP answers, and the response cache with
ETags. The resource modules beside this one register their routes on child blueprints of ``bp``."""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from typing import Any

from flask import Response, current_app, g, request
from flask_smorest import Api, Blueprint, abort
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

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


class ResponseCache:
    """Finished GET responses of this process, keyed by URL, Accept, data version and minute.

    A key can only hit while nothing was written (every write bumps the data
    version) and within the minute that windows ending now are aligned to, so a
    hit is the answer the view would compute.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: OrderedDict[tuple, tuple[bytes, str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[bytes, str, str] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: tuple[bytes, str, str]) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


cache = ResponseCache()


def _finish(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


@bp.before_request
def from_cache() -> Response | None:
    """Answer a GET from the cache when nothing changed since it was computed."""
    if request.method != "GET" or request.blueprint in UNCACHED:
        return None
    g.cache_key = (
        request.full_path,
        request.headers.get("Accept", ""),
        runs.data_version(db.session),
        minute_now(),
    )
    entry = cache.get(g.cache_key)
    if entry is None:
        return None
    body, mimetype, etag = entry
    response = Response(body, mimetype=mimetype)
    response.set_etag(etag)
    return _finish(response)


@bp.after_request
def to_cache(response: Response) -> Response:
    """ETag every successful GET (an unchanged refresh costs a 304) and keep it for the next asker."""
    if request.method == "GET" and response.status_code == 200 and not response.direct_passthrough:
        response.add_etag()
        key = g.pop("cache_key", None)
        if key is not None:
            cache.put(key, (response.get_data(), response.mimetype, response.get_etag()[0]))
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
