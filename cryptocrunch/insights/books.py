"""Order-book insights of one market over a window: its book tops read through ``storage.books``,
described by ``analysis.orderbook``."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from ..analysis import orderbook
from ..errors import BadRequest
from ..storage import books
from .markets import find_market
from .params import DEFAULT_POINTS, Window, check_points, split_pair


class NoBook(ValueError):
    """No book top stored for the market in the window."""


def book_frame(session: Session, market_id: int, window: Window) -> pd.DataFrame:
    """One market's stored book tops in the window, oldest first, with their mid, spread and spread
    in basis points of the mid."""
    return orderbook.with_spread(books.read_book_tops(session, market_id, window.start, window.end))


def book(
    session: Session,
    exchange: str,
    pair: str,
    window: Window,
    horizon_ms: int,
    points: int = DEFAULT_POINTS,
) -> dict[str, Any]:
    """``analysis.orderbook.figures`` of one market's book tops in ``window`` (the forecast
    ``horizon_ms`` past the last one, at most ``points`` series rows). Raise NoBook when the window
    holds none."""
    check_points(points)
    if horizon_ms <= 0:
        raise BadRequest(f"horizon must be positive, got {horizon_ms} ms")
    market_id = find_market(session, exchange, pair)
    frame = book_frame(session, market_id, window)
    if frame.empty:
        raise NoBook(
            f"no order-book top of {exchange} {split_pair(pair)} in the window: run flask collect --books"
        )
    return {
        "exchange": exchange,
        "pair": split_pair(pair),
        "window": window.name,
        **orderbook.figures(frame, horizon_ms, points),
    }
