"""When a failed task is worth retrying: storage hiccups yes, broken input or bugs no."""

from __future__ import annotations

from typing import Any

from sentiment_model.core.errors import is_transient
from sentiment_model.ingest.pipeline import SourceFileError


def transient_storage_error(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry connection resets, timeouts and other OSErrors;
    fail at once on malformed files, schema errors, missing paths and programming errors."""
    try:
        state.result()
    except SourceFileError as exc:
        return exc.transient
    except Exception as exc:  # noqa: BLE001 - classify, never swallow: Prefect re-raises
        return is_transient(exc)
    return False
