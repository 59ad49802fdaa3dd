"""Read-only views: HTML pages and their JSON twins."""

from collections.abc import Iterator

from flask import abort, request
from werkzeug.routing import BaseConverter


class PairConverter(BaseConverter):
    """A pair in URL form, ``BTC-USD`` (registered as ``<pair:...>``)."""

    regex = r"[A-Za-z0-9.]+-[A-Za-z0-9.]+"


def _strings(value: object) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def refuse_nul_bytes() -> None:
    """400 naming the parameter for a NUL byte in any part of a request the views read: the path,
    the query string, a form or a JSON body. No text column can hold one (PostgreSQL refuses it
    outright), so no page or endpoint could mean anything by it; checked before any view runs."""
    named = [
        *(request.view_args or {}).items(),
        *request.args.items(multi=True),
        *request.form.items(multi=True),
    ]
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        named.extend(body.items())
    elif body is not None:
        named.append(("body", body))
    for name, value in named:
        if "\x00" in name or any("\x00" in text for text in _strings(value)):
            shown = name.replace("\x00", "\\0")
            abort(400, description=f"{shown}: must not contain a NUL byte")
