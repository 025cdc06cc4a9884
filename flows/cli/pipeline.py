"""Commands of the nightly pipeline: ingest, stage-batches, score, report, demo."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from flows.cli._app import DataRootOption, _setting_default, app
from flows.cli.checks import checked_dask_address, checked_data_root, checked_sources
from flows.cli.prefect_api import ephemeral_api_dies_with_cli


def print_reconciliation(report: dict[str, Any]) -> None:
    """Print the per-file reconciliation as a fixed-width table."""
    header = f"{'source file':<72} {'status':>6} {'read':>7} {'canonical':>9} {'dups':>6} {'quar.':>6}"
    typer.echo(header)
    typer.echo("-" * len(header))
    for row in report["files"]:
        name = row["source"].split("/amazon/")[-1][-72:]
        typer.echo(f"{name:<72} {row['status']:>6} {row['records_read']:>7} {row['canonical']:>9} {row['duplicates']:>6} {row['quarantined']:>6}")
    t = report["totals"]
    typer.echo("-" * len(header))
    typer.echo(f"{'total (' + str(t['files']) + ' files, ' + str(t['failed_files']) + ' failed)':<72} {'':>6} {t['records_read']:>7} {t['canonical']:>9} {t['duplicates']:>6} {t['quarantined']:>6}")
    if t.get("reused_files"):
        typer.echo(f"{t['reused_files']} unchanged file(s) not read again (staged rows reused)")
    if report.get("rebuilt_damaged_snapshot"):
        damaged = report["rebuilt_damaged_snapshot"]
        typer.echo(f"snapshot {damaged['run_id']} had {len(damaged['parts'])} damaged part(s) (first: {damaged['parts'][0]['file']}): rebuilt from the staged rows")
    if report.get("unchanged_since"):
        typer.echo(f"no source file changed: snapshot {report['unchanged_since']} stays live")


@app.command()
def ingest(
    data_root: DataRootOption = None,
    manifest: Annotated[str | None, typer.Option(help="Sources manifest (TOML). Default: the repo's sources.toml.")] = None,
    base_uri: Annotated[str | None, typer.Option(help="Override the manifest's base_uri (e.g. gs://bucket/amazon).")] = None,
    chunk_rows: Annotated[int | None, typer.Option(help="Records per streamed chunk.")] = None,
    dask_address: Annotated[str | None, typer.Option(help="Dask scheduler to run the file and dedup-bucket tasks on.")] = None,
    bucket_rows: Annotated[int | None, typer.Option(help=f"Staged rows per dedup bucket (default {_setting_default('ingest_bucket_rows'):,}).")] = None,
) -> None:
    """Ingest raw review dumps into canonical Parquet and print the reconciliation."""
    from sentiment_model.core.errors import ConfigError
    from sentiment_model.core.settings import get_settings

    get_settings(chunk_rows=chunk_rows, ingest_bucket_rows=bucket_rows)
    data_root = checked_data_root(data_root)
    checked_sources(manifest, base_uri)
    checked_dask_address(dask_address)
    ephemeral_api_dies_with_cli()
    from flows.ingest import IngestIncomplete
    from flows.ingest import ingest as ingest_flow

    try:
        report = ingest_flow(data_root=data_root, sources_manifest=manifest, sources_base_uri=base_uri, chunk_rows=chunk_rows, dask_address=dask_address, bucket_rows=bucket_rows)
    except IngestIncomplete as exc:
        if exc.report is not None:
            print_reconciliation(exc.report)
        raise ConfigError(str(exc)) from None
    print_reconciliation(report)


@app.command("score")
def score(
    run_date: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Day to score (default: yesterday).")] = None,
    end_date: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day of a backfill (needs --run-date).")] = None,
    model: Annotated[str | None, typer.Option(help="Pin a model version (default: the champion).")] = None,
    dask_address: Annotated[str | None, typer.Option(help="Dask scheduler to fan the files out on.")] = None,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="Let a day that scores nothing replace a published day that has reviews.")] = False,
    expect_empty_nights: Annotated[bool, typer.Option("--expect-empty-nights", help="A night with no batch file gets an empty report instead of failing the run.")] = False,
    data_root: DataRootOption = None,
) -> None:
    """Score a day's nightly batch (or a range) and write its report."""
    from sentiment_model.scoring.config import checked_scoring_config

    # The flow's own parameter model checks the options, before anything else runs.
    config = checked_scoring_config(
        {"run_date": "--run-date", "end_date": "--end-date"},
        run_date=run_date.date() if run_date else None,
        end_date=end_date.date() if end_date else None,
        model_version=model,
        dask_address=dask_address,
        allow_empty=allow_empty,
        expect_empty_nights=expect_empty_nights,
    )
    data_root = checked_data_root(data_root, model or "champion")
    checked_dask_address(dask_address)
    ephemeral_api_dies_with_cli()
    from flows.nightly_scoring import nightly_scoring

    outcome = nightly_scoring(data_root=data_root, config=config)
    for day, result in outcome["days"].items():
        typer.echo(f"{day}: {result['scored']} scored, {result['quarantined']} quarantined -> {result['report']}")


@app.command("report")
def report(
    run_date: Annotated[dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="Day to report on.")],
    data_root: DataRootOption = None,
) -> None:
    """Rebuild the report of a scored day."""
    data_root = checked_data_root(data_root)
    ephemeral_api_dies_with_cli()
    from flows.report import report as report_flow

    summary = report_flow(run_date=run_date.date(), data_root=data_root)
    typer.echo(summary["report_html"])


@app.command("stage-batches")
def stage_batches(
    start: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First review date to stage.")] = None,
    end: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last review date to stage.")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Write canonical reviews as nightly batches: <root>/incoming/date=YYYY-MM-DD/."""
    from sentiment_model.core.errors import check_date_range

    check_date_range(start, end, ("--start", "--end"))
    data_root = checked_data_root(data_root)
    ephemeral_api_dies_with_cli()
    from flows.stage_batches import stage_batches as stage_flow

    counts = stage_flow(start=start.date() if start else None, end=end.date() if end else None, data_root=data_root)
    days = sorted(d for d in counts if d != "undated")
    typer.echo(f"staged {sum(counts[d] for d in days)} reviews in {len(days)} daily batches ({days[0] if days else '-'} .. {days[-1] if days else '-'})")


@app.command()
def demo(data_root: DataRootOption = None) -> None:
    """Run the pipeline end to end on the shared corpus: ingest, retrain (small), stage
    nightly batches, score them, and write the reports."""
    data_root = checked_data_root(data_root)
    ephemeral_api_dies_with_cli()
    from flows.demo import demo as demo_flow

    summary = demo_flow(data_root=data_root)
    print_reconciliation(summary["ingest"])
    for line in summary["lines"]:
        typer.echo(line)
