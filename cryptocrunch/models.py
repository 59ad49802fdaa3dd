"""Typed SQLAlchemy 2 models. All timestamps are UTC epoch milliseconds."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """Declarative base shared by every model."""


class Exchange(Base):
    """A venue by its ccxt id, or ``coingecko`` for the aggregate."""

    __tablename__ = "exchange"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)

    markets: Mapped[list[Market]] = relationship(back_populates="exchange")


class Market(Base):
    """One pair (unified ``BASE/QUOTE``) on one exchange."""

    __tablename__ = "market"
    __table_args__ = (UniqueConstraint("exchange_id", "pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id"))
    pair: Mapped[str] = mapped_column(String(64))

    exchange: Mapped[Exchange] = relationship(back_populates="markets")


class Tick(Base):
    """One price snapshot of a market. (market, ts) is the natural key."""

    __tablename__ = "tick"
    # The primary key is the "one market over a time range" index; without rowid
    # SQLite stores the rows in that order and keeps a single b-tree. PostgreSQL partitions by
    # month of ts (storage.partitions), so retention drops whole months.
    __table_args__ = ({"sqlite_with_rowid": False, "postgresql_partition_by": "RANGE (ts)"},)

    market_id: Mapped[int] = mapped_column(ForeignKey("market.id"), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last: Mapped[float] = mapped_column(Float)
    bid: Mapped[float | None] = mapped_column(Float)
    ask: Mapped[float | None] = mapped_column(Float)
    base_volume: Mapped[float | None] = mapped_column(Float)
    quote_volume: Mapped[float | None] = mapped_column(Float)


class BookTop(Base):
    """Best bid/ask with sizes, and the size resting within 0.5 % and 1 % of the mid."""

    __tablename__ = "book_top"
    __table_args__ = ({"sqlite_with_rowid": False},)

    market_id: Mapped[int] = mapped_column(ForeignKey("market.id"), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    bid: Mapped[float] = mapped_column(Float)
    bid_size: Mapped[float] = mapped_column(Float)
    ask: Mapped[float] = mapped_column(Float)
    ask_size: Mapped[float] = mapped_column(Float)
    bid_depth_05: Mapped[float] = mapped_column(Float)
    ask_depth_05: Mapped[float] = mapped_column(Float)
    bid_depth_1: Mapped[float] = mapped_column(Float)
    ask_depth_1: Mapped[float] = mapped_column(Float)


class Run(Base):
    """One collection attempt of one source."""

    __tablename__ = "run"
    __table_args__ = (Index("ix_run_source_started", "source", "started"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    started: Mapped[int] = mapped_column(BigInteger)
    finished: Mapped[int] = mapped_column(BigInteger)
    #: ok | error | cooldown (skipped because an earlier run put the source on cooldown)
    status: Mapped[str] = mapped_column(String(16))
    stored: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    retries: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    cooldown_until: Mapped[int | None] = mapped_column(BigInteger)
    #: Set when this run took its source past REJECTIONS_ALERT rejections within an hour.
    flag: Mapped[str | None] = mapped_column(Text)


class Summary:
    """The columns of a summary (``stats.SUMMARY_COLUMNS``) of one market's ticks over a span."""

    n: Mapped[int]
    first_ts: Mapped[int] = mapped_column(BigInteger)
    first: Mapped[float] = mapped_column(Float)
    last_ts: Mapped[int] = mapped_column(BigInteger)
    last: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    mean: Mapped[float] = mapped_column(Float)
    m2: Mapped[float] = mapped_column(Float)
    rn: Mapped[int]
    rmean: Mapped[float | None] = mapped_column(Float)
    rm2: Mapped[float] = mapped_column(Float)
    delta: Mapped[float | None] = mapped_column(Float)
    delta_from: Mapped[int | None] = mapped_column(BigInteger)
    delta_to: Mapped[int | None] = mapped_column(BigInteger)
    pct: Mapped[float | None] = mapped_column(Float)
    pct_from: Mapped[int | None] = mapped_column(BigInteger)
    pct_to: Mapped[int | None] = mapped_column(BigInteger)


#: The rollup columns one market's long reads take besides its key: series (last_ts, last, min,
#: max), candles (first, max, min, last) and sparklines (last_ts, last).
MARKET_READ = ("first", "last_ts", "last", "min", "max")


class Rollup(Summary, Base):
    """Summary of one market's ticks in one time bucket (5 or 15 minutes, an hour, 6 hours, a day
    or a week; each built once its time is over, ``storage.ticks``), kept up to date on write. A
    window's statistics combine these with the raw ticks at its edges instead of rescanning
    history."""

    __tablename__ = "rollup"
    # Keyed by time first: a ranking reads one level's buckets over a time range for every market,
    # one run of the key instead of a seek per market, and closing a bucket writes its markets
    # side by side. One market's reads (a series, candles, one market's statistics) go through
    # ``ix_rollup_market``, which carries the columns its long reads take (no row lookups).
    __table_args__ = (
        PrimaryKeyConstraint("span", "start", "market_id"),
        Index("ix_rollup_market", "market_id", "span", "start", *MARKET_READ),
        {"sqlite_with_rowid": False},
    )

    market_id: Mapped[int] = mapped_column(ForeignKey("market.id"))
    span: Mapped[int] = mapped_column(BigInteger, autoincrement=False)
    start: Mapped[int] = mapped_column(BigInteger, autoincrement=False)


class Snapshot(Summary, Base):
    """Summary of one market's ticks over a standard window ending now (``window``: 1h, 24h, 7d,
    30d, all), as of the window start and ticks version in ``State`` (``storage.snapshots``)."""

    __tablename__ = "window_snapshot"
    __table_args__ = ({"sqlite_with_rowid": False},)

    window: Mapped[str] = mapped_column(String(8), primary_key=True)
    market_id: Mapped[int] = mapped_column(ForeignKey("market.id"), primary_key=True)


class State(Base):
    """Small named counters; ``data_version`` changes with every write that readers can see."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Candle(Base):
    """OHLCV of a market for one timeframe, by open time (ms)."""

    __tablename__ = "candle"
    __table_args__ = ({"sqlite_with_rowid": False},)

    market_id: Mapped[int] = mapped_column(ForeignKey("market.id"), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)


class Cap(Base):
    """A CoinGecko market-cap snapshot of one coin (by CoinGecko id) at one time."""

    __tablename__ = "cap"
    __table_args__ = ({"sqlite_with_rowid": False},)

    coin: Mapped[str] = mapped_column(String(100), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    symbol: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int]
    market_cap: Mapped[float] = mapped_column(Float)
    volume: Mapped[float | None] = mapped_column(Float)
    supply: Mapped[float | None] = mapped_column(Float)


class Listing(Base):
    """A pair an exchange lists (an active spot market), as of the exchange's last listing refresh.

    Refreshed by ``flask similar`` from ccxt ``load_markets``, so pages and the API can compare
    exchanges' listings without calling them.
    """

    __tablename__ = "listing"
    __table_args__ = ({"sqlite_with_rowid": False},)

    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id"), primary_key=True)
    pair: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: When the exchange's listing was taken (epoch ms); the same on every row of one exchange.
    refreshed: Mapped[int] = mapped_column(BigInteger)


class Rejection(Base):
    """A rejected value or payload (from collect, backfill or import), kept for the validation report.

    Only the newest REJECTIONS_KEEP of each source are kept. ``pair`` is None when a whole payload
    that was not one pair's was rejected (a batch of tickers as malformed JSON or an HTML page).
    """

    __tablename__ = "rejection"
    __table_args__ = (Index("ix_rejection_source_ts", "source", "ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The exchange (ccxt id), ``coingecko``, or the --exchange given to an import.
    source: Mapped[str] = mapped_column(Text)
    #: What was being read: ``tickers``, ``ticker``, ``order book``, ``ohlcv 1h``, ``import FILE`` ...
    endpoint: Mapped[str] = mapped_column(Text)
    pair: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    #: When it was rejected (epoch ms).
    ts: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    """An account. ``email`` is stored lower-cased, so it is unique whatever its case; the password
    only as its argon2 hash."""

    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[int] = mapped_column(BigInteger)
    is_admin: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    sessions: Mapped[list[LoginSession]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class ApiToken(Base):
    """A bearer token of a user's for the API, kept only as the SHA-256 of its secret (it is shown
    once, when created). A revoked token is kept, marked, so its use can be told from a typo."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[int] = mapped_column(BigInteger)
    last_used: Mapped[int | None] = mapped_column(BigInteger)
    revoked: Mapped[int | None] = mapped_column(BigInteger)

    user: Mapped[User] = relationship(back_populates="tokens")


class LoginSession(Base):
    """One signed-in browser: the session cookie carries the secret key whose SHA-256 is stored here.
    Logging out deletes the row, changing the password deletes the others, so a copied cookie stops
    working then."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[int] = mapped_column(BigInteger)
    last_seen: Mapped[int] = mapped_column(BigInteger)


class Channel(Base):
    """Where a user's alerts go: an Apprise URL (email, SMS, webhook, ntfy, Telegram, ...). URLs hold
    secrets, so only their Fernet-encrypted form is stored, beside Apprise's privacy form for display."""

    __tablename__ = "channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url_encrypted: Mapped[str] = mapped_column(Text)
    url_display: Mapped[str] = mapped_column(Text)
    created: Mapped[int] = mapped_column(BigInteger)
    #: an admin's channel that also gets the operator's system events (a source failing, flagged)
    system_events: Mapped[bool] = mapped_column(default=False)


class AlertRule(Base):
    """One user's alert: a market (``exchange`` None: the cross-exchange median of ``pair``), what is
    watched (``kind``, ``op``, ``value``, ``window_ms``), how it repeats, and its persisted state
    (``analysis.alerts`` STATES, when it last fired)."""

    __tablename__ = "alert_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    pair: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    op: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    window_ms: Mapped[int | None] = mapped_column(BigInteger)
    #: signal rules: the candles' timeframe and the EMA spans
    timeframe: Mapped[str | None] = mapped_column(String(8))
    fast: Mapped[int | None] = mapped_column()
    slow: Mapped[int | None] = mapped_column()
    repeat: Mapped[str] = mapped_column(String(8), default="rearm")
    hysteresis_pct: Mapped[float] = mapped_column(Float, default=0.0)
    cooldown_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    expires: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    paused: Mapped[bool] = mapped_column(default=False)
    state: Mapped[int] = mapped_column(default=0)
    last_fired: Mapped[int | None] = mapped_column(BigInteger)
    #: the newest observation the rule has seen (ts), as of its creation, resumption or last change
    #: of state; it looks at nothing older or equal again, nor at what its series' ``AlertWatch``
    #: has seen
    seen: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[int] = mapped_column(BigInteger)

    channels: Mapped[list[Channel]] = relationship(secondary="alert_rule_channel")


class AlertWatch(Base):
    """How far the evaluator has looked at one series that rules watch (``alerts.rules``: kind,
    market or median, window, timeframe): a rule has seen everything up to the later of this and
    its own ``seen``, so a write of ticks updates one row per series, not one per rule."""

    __tablename__ = "alert_watch"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen: Mapped[int] = mapped_column(BigInteger)


class AlertRuleChannel(Base):
    """Which channels a rule notifies."""

    __tablename__ = "alert_rule_channel"

    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rule.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True)


class AlertEvent(Base):
    """Something that happened and was worth telling someone: kept as history, with a delivery row
    per channel it goes to. ``kind`` is ``rule`` (a rule fired) or ``system`` (a source failing or
    flagged)."""

    __tablename__ = "alert_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rule.id", ondelete="CASCADE"), index=True)
    observed: Mapped[float | None] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))
    #: when it happened (the run or tick time), and when the event was recorded
    ts: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    #: a rule's firing past ALERTS_MAX_PER_HOUR: kept, not sent (the hour's summary counts it)
    held: Mapped[bool] = mapped_column(default=False, server_default=false())


class Delivery(Base):
    """The outbox: one event to one channel, until the channel took it or the tries ran out. The
    (event, channel) key makes a second delivery row for the same pair impossible."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "channel_id"),
        Index("ix_delivery_due", "status", "next_try"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_event.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"), index=True)
    #: pending, sent or failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    tries: Mapped[int] = mapped_column(default=0)
    next_try: Mapped[int] = mapped_column(BigInteger)
    sent: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
