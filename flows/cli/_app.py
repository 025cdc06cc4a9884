"""The `sentiment` Typer app, its shared options and its start-up (Prefect offline)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

app = typer.Typer(help="review-sentiment: ingest Amazon review dumps, train, score nightly, report.", no_args_is_help=True)


def _setting_default(name: str) -> Any:
    """A setting's default as help shows it: written once, in core/settings.py."""
    from sentiment_model.core.settings import Settings

    return Settings.model_fields[name].get_default(call_default_factory=True)


DataRootOption = Annotated[str | None, typer.Option("--data-root", help="fsspec URL of the data root (default: $SENTIMENT_DATA_ROOT or ./data).")]


@app.callback()
def _offline_prefect() -> None:
    """Keep Prefect from phoning home: the pipeline runs on machines without internet."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # The ephemeral API takes ~20 s to start on a busy 2-core machine; Prefect's default wait is 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the output
