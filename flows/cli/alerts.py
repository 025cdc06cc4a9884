"""`sentiment alerts install`: the automations for new incidents and failed nightly runs."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli._app import app

alerts_app = typer.Typer(help="Notifications for new incidents of the nightly report and for failed nightly runs.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("install")
def alerts_install(
    block: Annotated[str, typer.Option(help="Notification block as <block-type-slug>/<name>, e.g. slack-webhook/ops-channel.")],
    flow_name: Annotated[str, typer.Option(help="The flow whose failed runs notify.")] = "nightly-scoring",
) -> None:
    """Create (or replace) the Prefect automations that send new incidents (warning or
    page) and failed nightly runs to a notification block, on the server at $PREFECT_API_URL."""
    from flows.alerts import install_alerts

    try:
        automations = install_alerts(block, flow_name)
    except ValueError as exc:  # no such block, or not a notification block
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    for automation in automations:
        typer.echo(f"automation {automation.name!r} ({automation.id}) -> {block}")
