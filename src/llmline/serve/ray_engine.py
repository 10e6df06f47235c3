"""`llmline serve --engine ray`: the same FastAPI app as replicas on Ray Serve, autoscaled.

Each replica builds the service exactly as a uvicorn worker does (`runner.build_app`: model,
batcher, keys, request log, reload watcher), so the routes, limits and gates do not change with
the engine. Ray Serve adds replicas while the in-flight requests per replica stay above
`target_ongoing_requests` and removes them `downscale_delay_s` after load falls, between
`min_replicas` and `max_replicas`. Without $RAY_ADDRESS a local Ray starts in this process; with
it, the deployment goes to that cluster (on Kubernetes, a KubeRay RayCluster or RayService).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from llmline.errors import ServeError
from llmline.serve.runner import ServeOptions

APP_NAME = "llmline"
DEPLOYMENT = "LlmlineService"
UPSCALE_DELAY_S = 5.0  # Ray's default is 30 s; a load step on a small service should not wait


def require_ray_serve() -> Any:
    try:
        from ray import serve
    except ImportError as exc:
        raise ServeError(
            f"--engine ray needs Ray Serve ({exc.name or 'ray'} is missing)",
            where="serve.engine",
            fix="pip install 'llmline[ray]' (ray[serve]), or use --engine uvicorn",
        ) from None
    return serve


def start_ray(settings: Any) -> None:
    """Connect to $RAY_ADDRESS, else start a local Ray sized for max_replicas replicas."""
    import ray

    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
        return
    # Replicas reserve replica_cpus each; a local Ray gets at least that many logical CPUs
    # so max_replicas can be placed even where that is more than the physical cores.
    cpus = max(float(os.cpu_count() or 1), settings.max_replicas * settings.replica_cpus)
    ray.init(num_cpus=int(cpus + 0.999), include_dashboard=False, logging_level=logging.WARNING)


def service_application(options: ServeOptions) -> Any:
    """The bound Ray Serve application: one autoscaled deployment around `build_app`."""
    serve = require_ray_serve()
    settings = options.serve_spec
    # One model thread per replica unless set: a replica holds a fraction of a core.
    threads = settings.threads or max(1, int(settings.replica_cpus))
    replica_options = ServeOptions(
        options.model, options.workspace, {**options.settings, "threads": threads}, options.monitor
    )

    @serve.ingress()
    class LlmlineService:
        def __init__(self, options_json: str) -> None:
            self.options_json = options_json

        def __serve_build_asgi_app__(self) -> Any:
            import json

            from llmline.serve.runner import build_app

            return build_app(ServeOptions(**json.loads(self.options_json)))

    deployment = serve.deployment(
        LlmlineService,
        name=DEPLOYMENT,
        ray_actor_options={"num_cpus": settings.replica_cpus},
        max_ongoing_requests=max(8, int(settings.target_ongoing_requests * 4)),
        autoscaling_config={
            "min_replicas": settings.min_replicas,
            "initial_replicas": max(1, settings.min_replicas),
            "max_replicas": settings.max_replicas,
            "target_ongoing_requests": settings.target_ongoing_requests,
            "upscale_delay_s": UPSCALE_DELAY_S,
            "downscale_delay_s": settings.downscale_delay_s,
        },
        health_check_timeout_s=120,  # a replica loads torch and the model before it is ready
    )
    return deployment.bind(replica_options.to_env())


def deploy(options: ServeOptions, *, host: str, port: int) -> None:
    """Start (or reach) Ray, open Serve's HTTP proxy on host:port and deploy; returns when
    the first replicas are ready."""
    serve = require_ray_serve()
    settings = options.serve_spec
    if settings.workers != 1:
        raise ServeError(
            "serve.workers and --engine ray both set: Ray Serve runs replicas, not workers",
            where="serve.workers",
            fix="drop --workers and set --min-replicas/--max-replicas instead",
        )
    if settings.min_replicas > settings.max_replicas:
        raise ServeError(
            f"min_replicas {settings.min_replicas} > max_replicas {settings.max_replicas}",
            where="serve.min_replicas",
            fix="make --min-replicas at most --max-replicas",
        )
    start_ray(settings)
    serve.start(http_options={"host": host, "port": port})
    serve.run(service_application(options), name=APP_NAME, route_prefix="/")


def replica_counts() -> dict[str, int]:
    """Replicas of the service by state (RUNNING, STARTING, STOPPING), from Serve's status."""
    from ray import serve

    app = serve.status().applications.get(APP_NAME)
    if app is None or DEPLOYMENT not in app.deployments:
        return {}
    states = app.deployments[DEPLOYMENT].replica_states
    return {str(getattr(k, "value", k)): int(v) for k, v in states.items()}


def serve_on_ray(options: ServeOptions, *, host: str, port: int) -> None:
    """Deploy, then keep the driver alive until interrupted; Ctrl-C shuts the service down."""
    from ray import serve

    deploy(options, host=host, port=port)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
