"""Running the service: uvicorn with the connection deadlines the app cannot set itself."""

from __future__ import annotations

from typing import Any

import uvicorn

from sentiment_model.core.settings import Settings
from sentiment_model.serving.limits import header_timeout_protocol

KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this (uvicorn's default)
GRACEFUL_SHUTDOWN_S = 30  # requests in flight finish, then the lifespan drains the queue


def server_config(settings: Settings, app: Any = None, **overrides: Any) -> uvicorn.Config:
    """uvicorn's config for ``settings``: the app (default: :func:`create_app`), a header
    deadline on every request, keep-alive and graceful shutdown."""
    if app is None:
        from sentiment_model.serving.app import create_app

        app = create_app(settings)
    options: dict[str, Any] = {
        "host": settings.serve_host,
        "port": settings.serve_port,
        "http": header_timeout_protocol(settings.serve_header_timeout_s),
        "timeout_keep_alive": KEEP_ALIVE_S,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "access_log": False,
        **overrides,
    }
    return uvicorn.Config(app, **options)


def serve(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM (what ``sentiment serve`` runs)."""
    uvicorn.Server(server_config(settings)).run()
