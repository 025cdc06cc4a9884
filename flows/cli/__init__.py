"""The `sentiment` command (``flows.cli:main``): one Typer app whose commands live in
modules by what they work on; importing this package registers them all."""

from flows.cli import alerts, model, pipeline, retrain  # noqa: F401 - registers the commands
from flows.cli._app import app
from flows.cli.checks import checked_dask_address, checked_data_root
from flows.cli.main import main
from flows.cli.retrain import retrain_config, retrain_fields

__all__ = ["app", "checked_dask_address", "checked_data_root", "main", "retrain_config", "retrain_fields"]
