"""The console's FastAPI app: one router per page group, Jinja2 templates, one access layer.

`create_app(UiConfig(...))` is what `llmline ui` serves and what the tests drive. Page modules
(`runs`, `registry`, `monitoring`, `labeling`, `playground`) each expose `router`; they read the
workspace through the links' own functions and render templates from `ui/templates`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmline import __version__
from llmline.errors import LlmlineError, ModelError, RegistryError
from llmline.serve.auth import CONSOLE_SCOPE
from llmline.ui.security import LOOPBACK, SESSION_COOKIE, SESSION_SECONDS, AccessError, Guard
from llmline.ui.text import redact
from llmline.workspace import Workspace

HERE = Path(__file__).parent
OPEN_PATHS = ("/login", "/static/", "/healthz")


class NotFound(LlmlineError):
    """A run, version, batch or page that does not exist."""

    status = 404


@dataclass
class UiConfig:
    """Everything `llmline ui` is told on its command line."""

    workspace: Path
    host: str = "127.0.0.1"
    port: int = 8700
    service_url: str | None = None
    mlflow_url: str = "http://127.0.0.1:5000"
    keys_path: Path | None = None
    monitor_url: str | None = None
    secret: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK


def open_workspace(path: Path) -> Workspace:
    """The workspace must exist: the console reads one, it never creates an empty one."""
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise NotFound(
            f"workspace {root} does not exist",
            where="--workspace",
            fix="pass the directory `llmline run` wrote to (it holds runs/ and mlflow.db)",
        )
    return Workspace(root)


def create_app(config: UiConfig) -> FastAPI:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    workspace = open_workspace(config.workspace)
    app = FastAPI(
        title="llmline console",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.config = config
    app.state.workspace = workspace
    keys = config.keys_path or workspace.root / "api_keys.json"
    app.state.guard = Guard(loopback=config.loopback, keys_path=keys, secret=config.secret)
    app.state.templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
    )
    app.state.templates.filters.update(redact=redact, hour=_hour)
    app.state.cache = {}
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _install_access(app)
    _install_errors(app)
    from llmline.ui import labeling, monitoring, playground, registry, runs

    for module in (runs, registry, monitoring, labeling, playground):
        app.include_router(module.router)
    _install_login(app)
    return app


def _hour(epoch: Any, seconds: bool = False) -> str:
    import time

    try:
        stamp = float(epoch)
    except (TypeError, ValueError):
        return str(epoch or "")
    return time.strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""), time.gmtime(stamp))


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    app = request.app
    session = request.state.session
    page = app.state.templates.get_template(template).render(
        request=request,
        session=session,
        csrf=app.state.guard.csrf_token(session) if session else "",
        config=app.state.config,
        workspace=app.state.workspace,
        version=__version__,
        **context,
    )
    return HTMLResponse(page, status_code=status)


def _install_access(app: FastAPI) -> None:
    guard: Guard = app.state.guard

    @app.middleware("http")
    async def access(request: Request, call_next: Any) -> Response:
        session, fresh = guard.session(request), None
        if session is None:  # every visitor gets a session: its sid is what CSRF tokens sign
            local = guard.loopback
            fresh = guard.cookie_for("local" if local else "", ["*"] if local else [])
            session = guard.parse(fresh)
        request.state.session = session
        path = request.url.path
        allowed = session is not None and session.allows(CONSOLE_SCOPE)
        if not allowed and not path.startswith(OPEN_PATHS):
            if request.method == "GET":
                response: Response = RedirectResponse(f"/login?next={path}", status_code=303)
            else:
                response = error_page(request, AccessError("log in first", fix="open /login"))
        else:
            response = await call_next(request)
        if fresh is not None:
            response.set_cookie(
                SESSION_COOKIE, fresh, max_age=SESSION_SECONDS, httponly=True, samesite="strict"
            )
        return response


def require(request: Request, scope: str) -> None:
    session = request.state.session
    if session is None or not session.allows(scope):
        raise AccessError(
            f"your key may not do this (it needs the {scope!r} scope)",
            fix=f"log in with a key created with --scopes {scope}",
        )


def error_page(request: Request, exc: LlmlineError) -> HTMLResponse:
    status = getattr(exc, "status", 400)
    if isinstance(exc, RegistryError) and "not found" in exc.what:
        status = 404
    elif isinstance(exc, RegistryError | ModelError) and status == 400:
        status = 409 if isinstance(exc, RegistryError) else 400
    if not hasattr(request.state, "session"):
        request.state.session = None
    return render(request, "error.html", status=status, error=exc, status_code=status)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(LlmlineError)
    async def llmline_error(request: Request, exc: LlmlineError) -> Response:
        return error_page(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        found: LlmlineError = NotFound(f"no page at {request.url.path}", fix="use the menu")
        if exc.status_code != 404:
            found = LlmlineError(str(exc.detail))
            found.status = exc.status_code  # type: ignore[attr-defined]
        return error_page(request, found)

    @app.exception_handler(RequestValidationError)
    async def bad_query(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
        )
        return error_page(
            request,
            LlmlineError(
                f"bad request parameters ({problems})", fix="use the forms and links of the page"
            ),
        )


def _install_login(app: FastAPI) -> None:
    from llmline.ui.security import read_form

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        return render(request, "login.html", next=_safe_next(next))

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        cookie = request.app.state.guard.login(form.get("key", ""))
        response = RedirectResponse(_safe_next(form.get("next", "/")), status_code=303)
        response.set_cookie(
            SESSION_COOKIE, cookie, max_age=SESSION_SECONDS, httponly=True, samesite="strict"
        )
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await read_form(request)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response


def _safe_next(target: str) -> str:
    """Only paths of this console: an open redirect would make the login page a phishing tool."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
