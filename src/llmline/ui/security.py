"""Who may use the console and whether a form came from it: login, scopes, CSRF tokens.

Bound to loopback the console trusts the local user (like `mlflow ui`); bound to any other
address every page needs a login with a key from the service's API-key store, and what a key
may do comes from its scopes: `console` reads (and labels, and uses the playgrounds),
`promote` also moves aliases; `*` does everything. Sessions and CSRF tokens are HMACs with a
secret made when the console starts, so a restart logs everyone out and stales old forms —
which is what a console with no user database should do.

Every POST (forms and the playgrounds' fetch calls) must carry the token of its session's
cookie: a page on another site can make the browser POST to 127.0.0.1, but cannot read the
token out of our pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request

from llmline.errors import LlmlineError
from llmline.serve.auth import ALL_SCOPES, CONSOLE_SCOPE, PROMOTE_SCOPE, KeyStore

SESSION_COOKIE = "llmline_console"
SESSION_SECONDS = 12 * 3600
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_FORM_BYTES = 1 << 20


class AccessError(LlmlineError):
    """The request is not allowed: no login, a key without the scope, or a bad CSRF token."""

    status = 403


class StaleForm(AccessError):
    """The form's token belongs to an earlier session (the console restarted, or you logged out)."""


@dataclass(frozen=True)
class Session:
    sid: str
    user: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        return (
            ALL_SCOPES in self.scopes
            or scope in self.scopes
            or (scope == CONSOLE_SCOPE and PROMOTE_SCOPE in self.scopes)
        )


class Guard:
    """Signs sessions and CSRF tokens; checks logins against the key file."""

    def __init__(self, *, loopback: bool, keys_path: Path, secret: bytes | None = None) -> None:
        self.loopback = loopback
        self.keys_path = keys_path
        self.secret = secret or secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def cookie_for(self, user: str, scopes: list[str]) -> str:
        """`sid|user|scopes|expiry|mac`: a fresh sid per login, so a new login stales old forms."""
        payload = "|".join(
            [secrets.token_hex(12), user, ",".join(scopes), str(int(time.time()) + SESSION_SECONDS)]
        )
        return f"{payload}|{self._sign(payload)}"

    def session(self, request: Request) -> Session | None:
        return self.parse(request.cookies.get(SESSION_COOKIE, ""))

    def parse(self, raw: str) -> Session | None:
        payload, _, mac = raw.rpartition("|")
        if not payload or not hmac.compare_digest(mac, self._sign(payload)):
            return None
        sid, rest = payload.split("|", 1)  # the mac vouches for the shape; names may hold "|"
        user, scopes, expiry = rest.rsplit("|", 2)
        if int(expiry) < time.time():
            return None
        return Session(sid, user, tuple(s for s in scopes.split(",") if s))

    def login(self, key: str) -> str:
        found = KeyStore.load(self.keys_path).find(key.strip())
        if found is None:
            raise AccessError(
                "that key is not in the console's key store",
                where=str(self.keys_path),
                fix="create one with `llmline apikey create NAME --scopes console`",
            )
        if not (found.allows(CONSOLE_SCOPE) or found.allows(PROMOTE_SCOPE)):
            raise AccessError(
                f"key {found.name!r} has scopes {','.join(found.scopes)}, none for the console",
                fix="create a key with --scopes console (read) or console,promote",
            )
        return self.cookie_for(found.name, list(found.scopes))

    def csrf_token(self, session: Session) -> str:
        return self._sign("csrf:" + session.sid)

    def check_csrf(self, session: Session | None, token: str | None) -> None:
        if session is None:
            raise StaleForm(
                "this form has no session behind it",
                fix="reload the page (the console may have restarted) and submit again",
            )
        if not token:
            raise AccessError("the form has no CSRF token", fix="submit it from the console's page")
        if not hmac.compare_digest(token, self.csrf_token(session)):
            raise StaleForm(
                "the form is stale: its token is from an earlier session",
                fix="reload the page and submit again",
            )


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded body as a dict (last value wins), checked against the session's token.

    Parsed here rather than through python-multipart: the console's forms are plain
    `application/x-www-form-urlencoded` or JSON, and one parser keeps one CSRF check.
    """
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise AccessError("the form is larger than 1 MiB", fix="send less text")
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        import json

        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise AccessError("the request body is not JSON", fix="send a JSON object") from None
        form = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    else:
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        form = {k: v[-1] for k, v in parsed.items()}
    token = form.pop("csrf", None) or request.headers.get("x-csrf-token")
    request.app.state.guard.check_csrf(request.state.session, token)
    return form
