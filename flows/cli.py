"""The `sentiment` command line: one command per job, each with --help."""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Any, Optional

import click
import typer

app = typer.Typer(help="review-sentiment: ingest Amazon review dumps, train, score nightly, report.", no_args_is_help=True)

DataRootOption = Annotated[Optional[str], typer.Option("--data-root", help="fsspec URL of the data root (default: $SENTIMENT_DATA_ROOT or ./data).")]


@app.callback()
def _offline_prefect() -> None:
    """Keep Prefect from phoning home: the pipeline runs on machines without internet."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the output


def checked_data_root(data_root: str | None, model: str | None = None) -> str:
    """Fail fast, before any flow run starts and before anything is written: the data
    root's scheme must be known and a named model (version, champion) must exist."""
    from sentiment_model.layout import DataRoot
    from sentiment_model.settings import get_settings

    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    root.fs  # noqa: B018 - resolves the scheme; raises ConfigError for an unknown one
    if model is not None:
        from sentiment_model.registry import resolve_model_dir

        resolve_model_dir(root, model)
    return settings.data_root


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
    if report.get("unchanged_since"):
        typer.echo(f"no source file changed: snapshot {report['unchanged_since']} stays live")


@app.command()
def ingest(
    data_root: DataRootOption = None,
    manifest: Annotated[Optional[str], typer.Option(help="Sources manifest (TOML). Default: the repo's sources.toml.")] = None,
    base_uri: Annotated[Optional[str], typer.Option(help="Override the manifest's base_uri (e.g. gs://bucket/amazon).")] = None,
    chunk_rows: Annotated[Optional[int], typer.Option(help="Records per streamed chunk.")] = None,
    dask_address: Annotated[Optional[str], typer.Option(help="Dask scheduler to run the file and dedup-bucket tasks on.")] = None,
    bucket_rows: Annotated[Optional[int], typer.Option(help="Staged rows per dedup bucket (default 1,000,000).")] = None,
) -> None:
    """Ingest raw review dumps into canonical Parquet and print the reconciliation."""
    from flows.ingest import ingest as ingest_flow

    data_root = checked_data_root(data_root)
    report = ingest_flow(
        data_root=data_root, sources_manifest=manifest, sources_base_uri=base_uri, chunk_rows=chunk_rows, dask_address=dask_address, bucket_rows=bucket_rows
    )
    print_reconciliation(report)


@app.command("score")
def score(
    run_date: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Day to score (default: yesterday).")] = None,
    end_date: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Last day of a backfill.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Pin a model version (default: the champion).")] = None,
    dask_address: Annotated[Optional[str], typer.Option(help="Dask scheduler to fan the files out on.")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Score a day's nightly batch (or a range) and write its report."""
    from flows.nightly_scoring import nightly_scoring

    data_root = checked_data_root(data_root, model or "champion")
    outcome = nightly_scoring(
        run_date=run_date.date() if run_date else None, end_date=end_date.date() if end_date else None,
        model_version=model, data_root=data_root, dask_address=dask_address,
    )
    for day, result in outcome["days"].items():
        typer.echo(f"{day}: {result['scored']} scored, {result['quarantined']} quarantined -> {result['report']}")


@app.command("report")
def report(
    run_date: Annotated[dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="Day to report on.")],
    data_root: DataRootOption = None,
) -> None:
    """Rebuild the report of a scored day."""
    from flows.report import report as report_flow

    data_root = checked_data_root(data_root)
    summary = report_flow(run_date=run_date.date(), data_root=data_root)
    typer.echo(summary["report_html"])


@app.command("stage-batches")
def stage_batches(
    start: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="First review date to stage.")] = None,
    end: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Last review date to stage.")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Write canonical reviews as nightly batches: <root>/incoming/date=YYYY-MM-DD/."""
    from flows.stage_batches import stage_batches as stage_flow

    data_root = checked_data_root(data_root)
    counts = stage_flow(start=start.date() if start else None, end=end.date() if end else None, data_root=data_root)
    days = sorted(d for d in counts if d != "undated")
    typer.echo(f"staged {sum(counts[d] for d in days)} reviews in {len(days)} daily batches ({days[0] if days else '-'} .. {days[-1] if days else '-'})")


@app.command()
def retrain(
    data_root: DataRootOption = None,
    sample_size: Annotated[int, typer.Option(help="Stratified subsample of the training split; 0 = all of it.")] = 9_000,
    epochs: Annotated[int, typer.Option(help="Most epochs (early stopping on validation macro-F1).")] = 3,
    max_length: Annotated[int, typer.Option(help="Tokens kept per review.")] = 200,
    lstm_units: Annotated[int, typer.Option(help="LSTM units per direction.")] = 128,
    embedding_dim: Annotated[int, typer.Option(help="Embedding size.")] = 128,
    pooling: Annotated[str, typer.Option(help="attention_max, attention, max or last.")] = "attention_max",
    word2vec_epochs: Annotated[int, typer.Option(help="Word2vec pretraining epochs on the training text (0 = off).")] = 5,
    ensemble_size: Annotated[int, typer.Option(help="Seeds averaged into one model.")] = 3,
    imbalance: Annotated[str, typer.Option(help="none (prior correction only), class_weight or oversample.")] = "none",
    seed: Annotated[int, typer.Option(help="Training seed.")] = 13,
    tolerance: Annotated[float, typer.Option(help="Promote if macro-F1 >= champion's - tolerance.")] = 0.0,
) -> None:
    """Train a challenger BiLSTM, compare it with TF-IDF+LR, register it, and gate promotion."""
    from flows.retrain import retrain as retrain_flow

    data_root = checked_data_root(data_root)
    out = retrain_flow(
        data_root=data_root, sample_size=sample_size or None, epochs=epochs, max_length=max_length, lstm_units=lstm_units,
        embedding_dim=embedding_dim, pooling=pooling, word2vec_epochs=word2vec_epochs, seed=seed, promotion_tolerance=tolerance,
        ensemble_size=ensemble_size, imbalance=imbalance,
    )
    m = out["metrics"]
    typer.echo(f"model {out['version']} at {out['model_dir']}")
    typer.echo(f"test macro-F1 {m['test']['macro_f1']:.4f} (accuracy {m['test']['accuracy']:.4f}); TF-IDF+LR {m['baseline_tfidf_lr']['macro_f1']:.4f}")
    typer.echo(out["decision"]["reason"])


@app.command()
def evaluate(
    source: Annotated[str, typer.Option(help="Labelled raw dump: file, folder or glob (any fsspec URL).")],
    format: Annotated[str, typer.Option("--format", help="Preset (mcauley_json, aws_tsv, ...) or a sources.toml entry name.")],
    model: Annotated[str, typer.Option(help="Model version, 'champion', or a model folder path.")] = "champion",
    out: Annotated[str, typer.Option(help="Where to write the metrics JSON.")] = "metrics.json",
    data_root: DataRootOption = None,
) -> None:
    """Score a labelled dump with a model and write the metrics JSON."""
    from pathlib import Path

    import orjson

    from sentiment_model.evaluation import evaluate_source, spec_for
    from sentiment_model.layout import DataRoot
    from sentiment_model.registry import load_classifier
    from sentiment_model.settings import get_settings

    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    classifier = load_classifier(root, model)
    metrics = evaluate_source(classifier, spec_for(format, source, settings.sources_manifest))
    Path(out).write_bytes(orjson.dumps(metrics, option=orjson.OPT_INDENT_2))
    typer.echo(f"n={metrics['n']} macro-F1 {metrics['macro_f1']:.4f} (present classes {metrics['macro_f1_present']:.4f}) accuracy {metrics['accuracy']:.4f} -> {out}")


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="The review text to explain.")],
    model: Annotated[str, typer.Option(help="Model version, 'champion', or a model folder path.")] = "champion",
    top: Annotated[int, typer.Option(help="How many tokens to show.")] = 5,
    data_root: DataRootOption = None,
) -> None:
    """Print class probabilities and the tokens that drove the prediction."""
    from sentiment_model.layout import DataRoot
    from sentiment_model.registry import load_classifier
    from sentiment_model.settings import get_settings

    settings = get_settings(data_root=data_root)
    explanation = load_classifier(DataRoot(settings.data_root, settings.storage_options), model).explain(text, top)
    probabilities = "  ".join(f"{k} {v:.3f}" for k, v in explanation["probabilities"].items())
    typer.echo(f"{explanation['label']}   ({probabilities})")
    typer.echo(f"top tokens ({explanation['method']}): " + ", ".join(f"{t['token']} {t['score']:.3f}" for t in explanation["top_tokens"]))


@app.command()
def demo(data_root: DataRootOption = None) -> None:
    """Run the pipeline end to end on the shared corpus: ingest, retrain (small), stage
    nightly batches, score them, and write the reports."""
    from flows.demo import demo as demo_flow

    data_root = checked_data_root(data_root)
    summary = demo_flow(data_root=data_root)
    print_reconciliation(summary["ingest"])
    for line in summary["lines"]:
        typer.echo(line)


def main() -> None:
    """Entry point: configuration errors print one clear line and exit 2, nothing written."""
    from sentiment_model.layout import ConfigError

    try:
        app(standalone_mode=False)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Abort:
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
