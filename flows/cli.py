"""The `sentiment` command line: one command per job, each with --help."""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Any, Optional

import typer

app = typer.Typer(help="review-sentiment: ingest Amazon review dumps, train, score nightly, report.", no_args_is_help=True)

DataRootOption = Annotated[Optional[str], typer.Option("--data-root", help="fsspec URL of the data root (default: $SENTIMENT_DATA_ROOT or ./data).")]


@app.callback()
def _offline_prefect() -> None:
    """Keep Prefect from phoning home: the pipeline runs on machines without internet."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


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


@app.command()
def ingest(
    data_root: DataRootOption = None,
    manifest: Annotated[Optional[str], typer.Option(help="Sources manifest (TOML). Default: the repo's sources.toml.")] = None,
    base_uri: Annotated[Optional[str], typer.Option(help="Override the manifest's base_uri (e.g. gs://bucket/amazon).")] = None,
    chunk_rows: Annotated[Optional[int], typer.Option(help="Records per streamed chunk.")] = None,
) -> None:
    """Ingest raw review dumps into canonical Parquet and print the reconciliation."""
    from flows.ingest import ingest as ingest_flow

    report = ingest_flow(data_root=data_root, sources_manifest=manifest, sources_base_uri=base_uri, chunk_rows=chunk_rows)
    print_reconciliation(report)


@app.command("stage-batches")
def stage_batches(
    start: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="First review date to stage.")] = None,
    end: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Last review date to stage.")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Write canonical reviews as nightly batches: <root>/incoming/date=YYYY-MM-DD/."""
    from flows.stage_batches import stage_batches as stage_flow

    counts = stage_flow(start=start.date() if start else None, end=end.date() if end else None, data_root=data_root)
    days = sorted(d for d in counts if d != "undated")
    typer.echo(f"staged {sum(counts[d] for d in days)} reviews in {len(days)} daily batches ({days[0] if days else '-'} .. {days[-1] if days else '-'})")


@app.command()
def demo(data_root: DataRootOption = None) -> None:
    """Run the pipeline end to end on the shared corpus: ingest, then stage nightly batches."""
    from flows.demo import demo as demo_flow

    summary = demo_flow(data_root=data_root)
    print_reconciliation(summary["ingest"])
    for line in summary["lines"]:
        typer.echo(line)


if __name__ == "__main__":
    app()
