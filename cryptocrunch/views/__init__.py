"""Read-only views: HTML pages and their JSON twins."""

from werkzeug.routing import BaseConverter


class PairConverter(BaseConverter):
    """A pair in URL form, ``BTC-USD`` (registered as ``<pair:...>``)."""

    regex = r"[A-Za-z0-9.]+-[A-Za-z0-9.]+"
