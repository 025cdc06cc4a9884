"""The entry point: one line and exit 2 for every error a user can cause, 75 for a Prefect
API that does not answer."""

from __future__ import annotations

import click
import typer
from typer.exceptions import TyperException

from flows.cli._app import app
from flows.cli.prefect_api import EXIT_TRY_AGAIN, _one_line, prefect_api_outage


def main() -> None:
    """Entry point: every error a user can cause (configuration, arguments, input files)
    is a :class:`ConfigError` or a click usage error, printed as one line on stderr,
    exit 2; the commands check their inputs before anything is written. A Prefect API
    that does not answer is one line too, exit 75 (try again later)."""
    from sentiment_model.core.errors import ConfigError

    user_errors_without_traceback()
    try:
        app(standalone_mode=False)
    except ConfigError as exc:
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        raise SystemExit(2) from None
    except (click.exceptions.Exit, typer.Exit) as exc:
        raise SystemExit(exc.exit_code) from None
    except (click.ClickException, TyperException) as exc:  # typer vendors its own click
        typer.echo(f"error: {_one_line(exc.format_message())}", err=True)
        raise SystemExit(exc.exit_code) from None
    except (click.exceptions.Abort, typer.Abort):
        raise SystemExit(1) from None
    except Exception as exc:
        outage = prefect_api_outage(exc)
        if outage is None:
            raise
        typer.echo(f"error: {outage}", err=True)
        raise SystemExit(EXIT_TRY_AGAIN) from None


def user_errors_without_traceback() -> None:
    """Prefect logs a failed task or flow run's exception with its traceback; for an error
    the user caused (a :class:`ConfigError`, e.g. a full disk or a damaged file, named in
    one line) the log line stays and the traceback goes, so the command's output is that
    line, Prefect's state lines and the final ``error:`` line, not ~130 lines."""
    import logging

    from sentiment_model.core.errors import ConfigError

    class DropUserErrorTraceback(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.exc_info and isinstance(record.exc_info[1], ConfigError):
                record.exc_info, record.exc_text = None, None
            return True

    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(DropUserErrorTraceback())
