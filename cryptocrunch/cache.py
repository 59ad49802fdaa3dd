"""The API's response cache: finished GET answers keyed by URL, ``Accept``, the data version and
the minute. Without CACHE_REDIS_URL each process keeps its own (the newest 512); with it they live
in Redis, shared by every gunicorn worker and every web machine, each for TTL_SECONDS.

A key names the data version, which every write bumps in its own transaction, so a write makes
every older entry unreachable everywhere at once; the minute in the key (windows ending now are
aligned to it) bounds how long an entry can be read at all, and the TTL how long Redis keeps it.
A Redis that cannot be reached never fails a request: it is logged once, the answers are computed
afresh, and it is asked again RETRY_AFTER seconds later. redis-py is imported only when the
setting is on."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from flask import Flask, current_app

from .config import ConfigError, add_check

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

#: (full path with query, Accept header, data version, minute) and (body, mimetype, ETag, the
#: view's other headers, like a CSV answer's Content-Disposition).
Key = tuple[str, str, int, int]
Headers = tuple[tuple[str, str], ...]
Entry = tuple[bytes, str, str, Headers]

SCHEMES = ("redis", "rediss", "unix")
#: Seconds Redis keeps an entry: its minute plus as much again for clocks a little apart.
TTL_SECONDS = 120
#: Seconds without asking Redis after it failed (so a dead host costs no timeout per request).
RETRY_AFTER = 5.0
#: Seconds one Redis call may take (connecting included) before it counts as a failure.
REDIS_TIMEOUT = 1.0
LOCAL_SIZE = 512
#: How an entry is laid out in Redis (in every key: a release that changes it never reads another's).
FORMAT = "v1"
EXTENSION = "cryptocrunch.response_cache"


class CacheUnavailable(Exception):
    """The shared cache cannot be read now: answer uncached."""


class Backend(Protocol):
    def get(self, key: Key) -> Entry | None: ...

    def put(self, key: Key, entry: Entry) -> None: ...


class LocalCache:
    """This process's newest ``size`` answers (least recently read go first)."""

    def __init__(self, size: int = LOCAL_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Key, entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def masked(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def namespace(database_uri: str) -> str:
    """The key prefix of one database's answers: instances on other databases sharing a Redis
    never read each other's entries (give every web machine the same database URL)."""
    digest = hashlib.sha256(database_uri.encode()).hexdigest()[:12]
    return f"cryptocrunch:response:{FORMAT}:{digest}"


def redis_key(prefix: str, key: Key) -> str:
    """``<prefix>:<data version>:<minute>:<hash of path and Accept>``."""
    path, accept, version, minute = key
    digest = hashlib.sha256(f"{path}\n{accept}".encode()).hexdigest()[:32]
    return f"{prefix}:{version}:{minute}:{digest}"


class RedisCache:
    """Answers in Redis under ``prefix``, each for TTL_SECONDS."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self._down_until: float | None = None  # set while Redis is failing

    def _redis(self) -> redis.Redis:
        if self._client is not None:
            return self._client
        with self._lock:
            if self._client is None:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                # one immediate retry (a pooled connection Redis closed), not redis-py's backoff
                self._client = redis.Redis.from_url(
                    self.url,
                    socket_timeout=REDIS_TIMEOUT,
                    socket_connect_timeout=REDIS_TIMEOUT,
                    retry=Retry(NoBackoff(), 1),
                )
            return self._client

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One Redis command; CacheUnavailable while Redis fails (said once per outage)."""
        import redis

        down_until = self._down_until
        if down_until is not None and time.monotonic() < down_until:
            raise CacheUnavailable
        try:
            result = getattr(self._redis(), method)(*args, **kwargs)
        except redis.RedisError as error:
            with self._lock:
                first = self._down_until is None
                self._down_until = time.monotonic() + RETRY_AFTER
            if first:
                log.warning(
                    "response cache: Redis at %s failed (%s: %s); answering uncached, trying it again "
                    "every %g s",
                    masked(self.url),
                    type(error).__name__,
                    error,
                    RETRY_AFTER,
                )
            raise CacheUnavailable from error
        if down_until is not None:
            with self._lock:
                back = self._down_until is not None
                self._down_until = None
            if back:
                log.warning("response cache: Redis at %s answers again", masked(self.url))
        return result

    def get(self, key: Key) -> Entry | None:
        value = self._call("get", redis_key(self.prefix, key))
        if value is None:
            return None
        head, body = bytes(value).split(b"\n", 1)
        mimetype, etag, headers = json.loads(head)
        return body, mimetype, etag, tuple((name, text) for name, text in headers)

    def put(self, key: Key, entry: Entry) -> None:
        body, mimetype, etag, headers = entry
        value = json.dumps([mimetype, etag, headers]).encode() + b"\n" + body  # JSON: one line
        with contextlib.suppress(CacheUnavailable):  # answered anyway; the next asker computes it too
            self._call("set", redis_key(self.prefix, key), value, ex=TTL_SECONDS)


def check_settings(config: Mapping[str, Any]) -> None:
    """CACHE_REDIS_URL: null (or empty), or a redis://, rediss:// or unix:// URL."""
    url = config["CACHE_REDIS_URL"]
    if url is None or url == "":
        return
    example = "redis://127.0.0.1:6379/0, rediss://host:6380/0 or unix:///run/redis/redis.sock"
    if not isinstance(url, str):
        raise ConfigError(f"CACHE_REDIS_URL must be a URL like {example}, or null; got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ConfigError(
            f"CACHE_REDIS_URL must be a redis://, rediss:// or unix:// URL (like {example}), or null; "
            f"got {masked(url)!r}"
        )
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise ConfigError(f"CACHE_REDIS_URL: the port of {masked(url)!r} is not a number") from None
    if parts.scheme == "unix" and not parts.path:
        raise ConfigError(f"CACHE_REDIS_URL: {masked(url)!r} names no socket (unix:///path/to/redis.sock)")
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(f"CACHE_REDIS_URL: {masked(url)!r} names no host (redis://host:6379/0)")


def init_app(app: Flask) -> None:
    """Check CACHE_REDIS_URL and give the app its cache: Redis when set, else this process's."""
    add_check(app, check_settings)
    url = app.config["CACHE_REDIS_URL"]
    backend: Backend = (
        RedisCache(url, namespace(str(app.config["SQLALCHEMY_DATABASE_URI"]))) if url else LocalCache()
    )
    app.extensions[EXTENSION] = backend


def backend() -> Backend:
    """The current app's response cache."""
    found: Backend = current_app.extensions[EXTENSION]
    return found
