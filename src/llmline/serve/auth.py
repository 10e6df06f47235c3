"""API keys (stored hashed, compared in constant time, scoped per route) and per-key rate limits.

Keys are 32 random bytes, so a plain sha256 of the key is as strong as a slow password hash
(there is nothing to brute-force) and keeps each check cheap. The file holds only hashes: a
leaked key file does not leak keys. Limits are token buckets per key and per worker process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmline.errors import ServeError
from llmline.lineage import write_json_atomic

KEY_PREFIX = "llk_"
ALL_SCOPES = "*"
# Scopes of the web console (`llmline ui`): it reads with `console`, moves aliases with `promote`.
CONSOLE_SCOPE = "console"
PROMOTE_SCOPE = "promote"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class ApiKey:
    """One stored key: its name, hash, the routes it may call and its request rate."""

    name: str
    sha256: str
    scopes: list[str] = field(default_factory=lambda: [ALL_SCOPES])
    rate_per_s: float | None = None
    burst: int = 20

    def allows(self, scope: str) -> bool:
        return ALL_SCOPES in self.scopes or scope in self.scopes


class KeyStore:
    """The key file: a JSON list of ApiKey records (hashes only)."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = keys

    @classmethod
    def load(cls, path: Path) -> KeyStore:
        if not path.exists():
            return cls([])
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
            return cls([ApiKey(**row) for row in rows])
        except (ValueError, TypeError) as exc:
            raise ServeError(
                f"API key file is not a list of keys ({exc})",
                where=str(path),
                fix="recreate it with `llmline apikey create`",
            ) from None

    def save(self, path: Path) -> None:
        write_json_atomic(path, [asdict(k) for k in self.keys])

    def create(self, name: str, *, scopes: list[str], rate_per_s: float | None, burst: int) -> str:
        """Add a key and return it in clear text: the only time it is ever shown."""
        if any(k.name == name for k in self.keys):
            raise ServeError(f"an API key named {name!r} exists", fix="revoke it or pick a name")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.keys.append(ApiKey(name, hash_key(key), scopes or [ALL_SCOPES], rate_per_s, burst))
        return key

    def revoke(self, name: str) -> None:
        before = len(self.keys)
        self.keys = [k for k in self.keys if k.name != name]
        if len(self.keys) == before:
            raise ServeError(f"no API key named {name!r}", fix="see `llmline apikey list`")

    def find(self, presented: str) -> ApiKey | None:
        """Compare against every stored hash in constant time, so timing reveals nothing."""
        digest = hash_key(presented)
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return found


class RateLimiter:
    """Token bucket per key name: `rate_per_s` sustained, `burst` at once."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: ApiKey) -> float:
        """0.0 when the request may go ahead, else seconds until a token is free."""
        if not key.rate_per_s:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key.name, (float(key.burst), now))
            tokens = min(float(key.burst), tokens + (now - last) * key.rate_per_s)
            if tokens >= 1.0:
                self._buckets[key.name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key.name] = (tokens, now)
            return (1.0 - tokens) / key.rate_per_s


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """`Authorization: Bearer KEY` (what OpenAI clients send) or `X-API-Key: KEY`."""
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def route_scope(path: str) -> str | None:
    """/v1/classify -> 'classify', /v1/chat/completions -> 'chat'; non-/v1 paths are open."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] != "v1":
        return None
    return parts[1]
