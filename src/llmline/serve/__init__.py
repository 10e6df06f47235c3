"""The service link: a FastAPI app over a loaded model, with metrics and health checks."""
