"""The FastAPI app: model routes behind one micro-batcher, keys, limits, metrics and health.

Middlewares wrap the routes in the order of `MIDDLEWARES`, nowhere else. Route modules in
`llmline.serve.routes` plug in with `install(app, state, metrics)`; they run
model calls through `state.batcher` so every route shares one batching queue and one model
thread, and log predictions through `state.log_predictions` into the monitoring store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware import Middleware

from llmline import __version__
from llmline.serve import gate, safety, trail
from llmline.serve.auth import KeyStore
from llmline.serve.batching import BatcherClosed, MicroBatcher, QueueFull
from llmline.serve.gate import too_many
from llmline.serve.metrics import ServiceMetrics
from llmline.serve.schemas import declare_errors, declare_limits
from llmline.serve.state import ServiceState
from llmline.spec import ServeSpec

if TYPE_CHECKING:
    from llmline.models.predictor import Predictor
    from llmline.monitor.store import RequestLogger

__all__ = ["MIDDLEWARES", "ServiceState", "create_app", "shutdown"]

MiddlewareFactory = Callable[[ServiceState, ServiceMetrics], Middleware | None]

# The request passes these layers in this order (outermost first), and only this list sets it:
# the audit trail records every request, refused ones included; the gate refuses oversize
# bodies and unknown, out-of-scope or over-rate keys before anything reads the text; the safety
# policy then checks (and logs) only what an allowed caller sent. None is a layer that is off.
MIDDLEWARES: list[MiddlewareFactory] = [trail.middleware, gate.middleware, safety.middleware]


def create_app(
    predictor: Predictor | None,
    *,
    model_ref: str,
    model_info: dict[str, Any] | None = None,
    settings: ServeSpec | None = None,
    keys: KeyStore | None = None,
    request_log: RequestLogger | None = None,
) -> FastAPI:
    settings = settings or ServeSpec.model_validate({})
    metrics = ServiceMetrics()
    state = ServiceState(
        predictor,
        model_ref,
        model_info or {},
        settings=settings,
        keys=keys,
        request_log=request_log,
    )
    state.batcher = MicroBatcher(
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
        on_batch=lambda size, _seconds: metrics.batch_size.observe(size),
    )
    layers = [factory(state, metrics) for factory in MIDDLEWARES]
    app = FastAPI(
        title="llmline service",
        version=__version__,
        description="Predictions from a registered llmline model, with lineage in every answer. "
        f"Request bodies over {settings.max_body_bytes} bytes get 413.",
        lifespan=_lifespan(state),
        middleware=[layer for layer in layers if layer is not None],
    )
    app.state.llmline = state
    app.state.metrics = metrics
    _install_error_handlers(app)
    _install_health(app, state, metrics)
    install_routes(app, state, metrics)
    _publish_schema(app, settings)
    return app


def _publish_schema(app: FastAPI, settings: ServeSpec) -> None:
    """The OpenAPI document states this service's own limits and its real error answers."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_errors(declare_limits(default(), settings))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _lifespan(
    state: ServiceState,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        shutdown(state)

    return lifespan


def shutdown(state: ServiceState) -> None:
    """Graceful stop: uvicorn has drained HTTP; finish queued batches, flush the request log."""
    if state.batcher is not None:
        state.batcher.close(timeout=state.settings.graceful_timeout_s)
    for close in state.closers:
        close()
    if state.request_log is not None:
        state.request_log.close()


def _install_health(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    @app.get("/healthz", summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: a model is loaded")
    def readyz(response: Response) -> dict[str, Any]:
        if state.predictor is None:
            response.status_code = 503
            return {"status": "loading"}
        queued = state.batcher.pending if state.batcher else 0
        return {"status": "ready", "model": state.model_ref, "queued": queued, **state.model_info}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def install_routes(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    """Every module in llmline.serve.routes adds its routes; a new route group is a new file."""
    import importlib
    import pkgutil

    import llmline.serve.routes as routes

    for module in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        importlib.import_module(f"{routes.__name__}.{module.name}").install(app, state, metrics)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """One readable line per problem, naming the field, instead of pydantic's raw dump."""
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"] if p != "body") or "body"
            problems.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
        return JSONResponse({"detail": "; ".join(problems), "errors": problems}, status_code=422)

    @app.exception_handler(QueueFull)
    async def overloaded(request: Request, exc: QueueFull) -> JSONResponse:
        return too_many(
            "the service is at capacity; retry after the given seconds", exc.retry_after
        )

    @app.exception_handler(BatcherClosed)
    async def closing(request: Request, exc: BatcherClosed) -> JSONResponse:
        return JSONResponse({"detail": "the service is shutting down"}, status_code=503)
