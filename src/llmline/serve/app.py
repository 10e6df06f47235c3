"""The FastAPI app: classify, health, readiness, Prometheus metrics and OpenAPI docs."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from llmline import __version__
from llmline.models.predictor import Predictor
from llmline.serve.metrics import ServiceMetrics


@dataclass
class ServiceState:
    """The loaded model and what it was loaded from; swapped whole on reload."""

    predictor: Predictor | None = None
    model_ref: str = ""
    model_info: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(
    predictor: Predictor | None, *, model_ref: str, model_info: dict[str, Any] | None = None
) -> FastAPI:
    app = FastAPI(
        title="llmline service",
        version=__version__,
        description="Predictions from a registered llmline model, with lineage in every answer.",
    )
    state = ServiceState(predictor, model_ref, model_info or {})
    metrics = ServiceMetrics()
    app.state.llmline = state
    app.state.metrics = metrics
    _install_middleware(app, metrics)
    _install_error_handlers(app)

    @app.get("/healthz", summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: a model is loaded")
    def readyz(response: Response) -> dict[str, Any]:
        if state.predictor is None:
            response.status_code = 503
            return {"status": "loading"}
        return {"status": "ready", "model": state.model_ref, **state.model_info}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    install_routes(app, state, metrics)
    return app


def install_routes(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    """Every module in llmline.serve.routes adds its routes; a new route group is a new file."""
    import importlib
    import pkgutil

    import llmline.serve.routes as routes

    for module in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        importlib.import_module(f"{routes.__name__}.{module.name}").install(app, state, metrics)


def _install_middleware(app: FastAPI, metrics: ServiceMetrics) -> None:
    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """One readable line per problem, naming the field, instead of pydantic's raw dump."""
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"] if p != "body") or "body"
            problems.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
        return JSONResponse({"detail": "; ".join(problems), "errors": problems}, status_code=422)
