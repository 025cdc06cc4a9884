"""The `sentiment` command line: one command per job, each with --help."""

from __future__ import annotations

import datetime as dt
import inspect
import os
from typing import Annotated, Any, Optional

import click
import typer
from typer.exceptions import TyperException

app = typer.Typer(help="review-sentiment: ingest Amazon review dumps, train, score nightly, report.", no_args_is_help=True)


def _setting_default(name: str) -> Any:
    """A setting's default as help shows it: written once, in core/settings.py."""
    from sentiment_model.core.settings import Settings

    return Settings.model_fields[name].get_default(call_default_factory=True)


DataRootOption = Annotated[Optional[str], typer.Option("--data-root", help="fsspec URL of the data root (default: $SENTIMENT_DATA_ROOT or ./data).")]


@app.callback()
def _offline_prefect() -> None:
    """Keep Prefect from phoning home: the pipeline runs on machines without internet."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # The ephemeral API takes ~20 s to start on a busy 2-core machine; Prefect's default wait is 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the output


#: Run in the ephemeral API's process before it becomes uvicorn: ask the kernel to send
#: SIGTERM when the CLI dies (PR_SET_PDEATHSIG = 1), give up if it already has, then exec.
_DIE_WITH_PARENT = "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); os.getppid() == int(sys.argv[1]) or sys.exit(1); os.execv(sys.argv[2], sys.argv[2:])"


def ephemeral_api_dies_with_cli() -> None:
    """Prefect starts its ephemeral API as a child process (uvicorn) and stops it at
    exit; a `kill -9` of the CLI skips that and leaves the server running for good. On
    Linux the child gets a parent-death signal (kept across exec), so it ends with the
    CLI however the CLI ends. Call before the first flow run; a no-op elsewhere."""
    import subprocess
    import sys
    from types import SimpleNamespace

    if not sys.platform.startswith("linux") or os.environ.get("PREFECT_API_URL"):
        return
    from prefect.server.api import server

    if getattr(server.subprocess, "dies_with_parent", False):
        return

    class PopenDyingWithParent(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, args: list[str], **kwargs: Any) -> None:
            super().__init__([sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *args], **kwargs)

    server.subprocess = SimpleNamespace(**{**vars(subprocess), "Popen": PopenDyingWithParent, "dies_with_parent": True})


def checked_data_root(data_root: str | None, model: str | None = None, writes: bool = True) -> str:
    """Fail fast, before any flow run starts and before anything is written: the
    settings must be valid, the data root's scheme known and, locally, the root a folder
    (or creatable as one) that can be written when the command ``writes``; a named model
    (version, champion) must exist with readable files."""
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.core.settings import get_settings

    settings = get_settings(data_root=data_root)
    root = DataRoot(settings.data_root, settings.storage_options)
    root.fs  # noqa: B018 - resolves the scheme; raises ConfigError for an unknown one
    if root.is_local:
        check_local_folder(root.path, "data root", writes)
    if model is not None:
        from sentiment_model.model.registry import check_model_files, resolve_model_dir

        check_model_files(root, resolve_model_dir(root, model))
    return settings.data_root


def check_local_folder(path: str, what: str, writes: bool = False) -> None:
    """The nearest existing ancestor of ``path`` (itself included) must be a folder (and
    writable, when the command ``writes``): a file there, a symlink loop, a read-only
    mount or a permission error fails now, with one line."""
    import stat
    from pathlib import Path

    from sentiment_model.core.errors import ConfigError

    for candidate in (Path(path), *Path(path).parents):
        try:
            mode = candidate.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):  # an ancestor that is a file is reported below
            continue
        except OSError as exc:
            raise ConfigError(f"{what} {path}: {exc.strerror} ({candidate})") from None
        if not stat.S_ISDIR(mode):
            raise ConfigError(f"{what} {path}: {candidate} is a file, not a folder")
        # access() answers EROFS for a read-only mount even to root (a chmod does not stop root).
        if writes and not os.access(candidate, os.W_OK | os.X_OK):
            reason = "read-only file system" if os.statvfs(candidate).f_flag & os.ST_RDONLY else "permission denied"
            raise ConfigError(f"{what} {path}: {candidate} cannot be written ({reason}); this command writes under the data root")
        return


def checked_dask_address(address: str | None, timeout_s: float = 5.0) -> None:
    """Connect once to the scheduler before the run: an unreachable one is a typo or a
    cluster that is down, not something to find out after the day's files are listed."""
    import socket
    from urllib.parse import urlsplit

    from sentiment_model.core.errors import ConfigError

    if not address:
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls"):
        return
    try:
        host, port = parts.hostname, parts.port or 8786
    except ValueError as exc:
        raise ConfigError(f"Dask scheduler address {address!r} is not host:port: {exc}") from None
    if not host:
        raise ConfigError(f"Dask scheduler address {address!r} has no host")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from None


def checked_sources(manifest: str | None, base_uri: str | None) -> None:
    """The manifest must parse and every entry must match at least one file."""
    from sentiment_model.core.errors import ConfigError
    from sentiment_model.core.settings import get_settings
    from sentiment_model.ingest.sources import load_manifest, resolve_files

    settings = get_settings(sources_manifest=manifest, sources_base_uri=base_uri)
    loaded = load_manifest(settings.sources_manifest, settings.sources_base_uri)
    for spec in loaded.sources:
        try:
            files = resolve_files(spec, loaded.base_uri, settings.storage_options)
        except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
            raise ConfigError(f"{settings.sources_manifest}: source {spec.name!r}: {exc}") from None
        if not files:
            raise ConfigError(f"{settings.sources_manifest}: source {spec.name!r}: no file matches {spec.uri!r} under {loaded.base_uri}")


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
    manifest: Annotated[Optional[str], typer.Option(help="Sources manifest (TOML). Default: the repo's sources.toml.")] = None,
    base_uri: Annotated[Optional[str], typer.Option(help="Override the manifest's base_uri (e.g. gs://bucket/amazon).")] = None,
    chunk_rows: Annotated[Optional[int], typer.Option(help="Records per streamed chunk.")] = None,
    dask_address: Annotated[Optional[str], typer.Option(help="Dask scheduler to run the file and dedup-bucket tasks on.")] = None,
    bucket_rows: Annotated[Optional[int], typer.Option(help=f"Staged rows per dedup bucket (default {_setting_default('ingest_bucket_rows'):,}).")] = None,
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
    run_date: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Day to score (default: yesterday).")] = None,
    end_date: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Last day of a backfill (needs --run-date).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Pin a model version (default: the champion).")] = None,
    dask_address: Annotated[Optional[str], typer.Option(help="Dask scheduler to fan the files out on.")] = None,
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
    start: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="First review date to stage.")] = None,
    end: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Last review date to stage.")] = None,
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


def retrain(data_root: str | None = None, **options: Any) -> None:
    """Train a challenger BiLSTM, compare it with TF-IDF+LR on the same rows, register it,
    and gate promotion. Every option is a field of RetrainConfig or TrainConfig
    (sentiment_model/training/config.py); one left out keeps its default there."""
    config = retrain_config(options)  # before anything runs: one line for a bad value
    data_root = checked_data_root(data_root)
    from flows.retrain import retrain as retrain_flow

    ephemeral_api_dies_with_cli()
    out = retrain_flow(data_root=data_root, config=config)
    m = out["metrics"]
    typer.echo(f"model {out['version']} at {out['model_dir']}")
    typer.echo(f"test macro-F1 {m['test']['macro_f1']:.4f} (accuracy {m['test']['accuracy']:.4f})")
    if "stars" in m["test"]:
        s = m["test"]["stars"]
        typer.echo(f"stars: exact {s['exact_accuracy']:.4f}, within one star {s['within_one_star']:.4f}, 5-class macro-F1 {s['macro_f1']:.4f}, mean absolute error {s['mean_absolute_error']:.3f}")
    typer.echo(m["comparison_with_baseline"]["line"])
    typer.echo(out["decision"]["reason"])


#: Older names of `retrain` options that still work.
RETRAIN_OPTION_ALIASES = {"promotion_tolerance": ("--tolerance",)}


def retrain_fields() -> dict[str, Any]:
    """Every field `retrain` has an option for: RetrainConfig's run fields, then
    TrainConfig's (the field ``train`` is the latter). Field name -> pydantic FieldInfo."""
    from sentiment_model.training.config import RetrainConfig, TrainConfig

    run = {name: info for name, info in RetrainConfig.model_fields.items() if name != "train"}
    assert not run.keys() & TrainConfig.model_fields.keys(), "a RetrainConfig field shadows a TrainConfig one"
    return {**run, **TrainConfig.model_fields}


def _without_none(annotation: Any) -> Any:
    """``X`` of an ``X | None`` field's annotation; any other annotation itself."""
    import types
    import typing

    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        return next(arg for arg in args if arg is not type(None))
    return annotation


def _as_typed(value: Any) -> str:
    """A field's default as one would type it as an option."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _option_parameter(name: str, info: Any) -> inspect.Parameter:
    """A field as a typer option: its name with dashes, its type (a none-able field also
    takes ``none``, a tuple takes comma-separated values), its description and default
    as help. The option's own default is None: "not given, keep the field's default"."""
    import typing

    kind = _without_none(info.annotation)
    nullable = kind is not info.annotation
    decls: tuple[str, ...] = (f"--{name.replace('_', '-')}", *RETRAIN_OPTION_ALIASES.get(name, ()))
    option: dict[str, Any] = {"help": f"{info.description} (default: {_as_typed(info.get_default(call_default_factory=True))})", "show_default": False}
    if kind is bool:
        annotation: Any = Optional[bool]
        decls = (f"{decls[0]}/--no-{decls[0][2:]}", *decls[1:])
    elif kind is dt.date:
        annotation, option["formats"] = Optional[dt.datetime], ["%Y-%m-%d"]
    elif typing.get_origin(kind) is typing.Literal:
        annotation, option["metavar"] = Optional[str], "[" + "|".join(map(str, typing.get_args(kind))) + "]"  # pydantic checks the value
    elif typing.get_origin(kind) is tuple:
        annotation, option["metavar"], option["parser"] = Optional[str], "N,N,...", lambda value: tuple(value.split(","))
    elif nullable:
        base = kind.__name__.upper()
        annotation, option["metavar"] = Optional[str], f"{base}|none"  # retrain_config reads "none"
    else:
        annotation = Optional[kind]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[annotation, typer.Option(*decls, **option)])


# The command's options are TrainConfig's and RetrainConfig's fields, generated: a new
# field is an option with its description as help, and nothing here is copied by hand.
retrain.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter("data_root", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DataRootOption)] + [_option_parameter(name, info) for name, info in retrain_fields().items()]
)
app.command()(retrain)


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

    from sentiment_model.core.errors import ConfigError
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.core.settings import get_settings
    from sentiment_model.model.registry import load_classifier
    from sentiment_model.training.evaluation import evaluate_labelled, read_labelled_source, spec_for

    settings = get_settings(data_root=checked_data_root(data_root, model, writes=False))
    if not Path(out).resolve().parent.is_dir():
        raise ConfigError(f"--out {out}: folder {Path(out).resolve().parent} does not exist")
    root = DataRoot(settings.data_root, settings.storage_options)
    spec = spec_for(format, source, settings.sources_manifest)
    labelled = read_labelled_source(spec, storage_options=settings.storage_options)
    metrics = evaluate_labelled(load_classifier(root, model), labelled)
    Path(out).write_bytes(orjson.dumps(metrics, option=orjson.OPT_INDENT_2))
    typer.echo(f"n={metrics['n']} macro-F1 {metrics['macro_f1']:.4f} (present classes {metrics['macro_f1_present']:.4f}) accuracy {metrics['accuracy']:.4f} -> {out}")


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="The review text to explain.")],
    title: Annotated[str, typer.Option(help="The review's title (read before the text, as in training).")] = "",
    model: Annotated[str, typer.Option(help="Model version, 'champion', or a model folder path.")] = "champion",
    top: Annotated[int, typer.Option(help="How many tokens to show.")] = 5,
    data_root: DataRootOption = None,
) -> None:
    """Print class probabilities and the tokens that drove the prediction."""
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.core.settings import get_settings

    settings = get_settings(data_root=checked_data_root(data_root, model, writes=False))  # before TensorFlow loads
    import pyarrow as pa

    from sentiment_model.core.schema import EMPTY_TEXT_LABEL
    from sentiment_model.model.registry import load_classifier
    from sentiment_model.model.text import review_text

    review = review_text(pa.array([title], pa.string()), pa.array([text], pa.string()))[0].as_py()
    explanation = load_classifier(DataRoot(settings.data_root, settings.storage_options), model).explain(review, top)
    if explanation["label"] == EMPTY_TEXT_LABEL:
        typer.echo(f"{explanation['label']}   (the text has no token the model can read: nothing to predict from)")
        return
    probabilities = "  ".join(f"{k} {v:.3f}" for k, v in explanation["probabilities"].items())
    scores = "  ".join(f"{k} {v:.3f}" for k, v in explanation["decision_scores"].items())
    typer.echo(f"{explanation['label']}   (probabilities: {probabilities}; decision scores, log p + class offset, highest wins: {scores})")
    typer.echo(f"top tokens ({explanation['method']}): " + ", ".join(f"{t['token']} {t['score']:.3f}" for t in explanation["top_tokens"]))


@app.command()
def serve(
    model: Annotated[Optional[str], typer.Option(help="champion (hot-reloaded when the pointer moves), a version, or a model folder.")] = None,
    host: Annotated[Optional[str], typer.Option(help=f"Address to listen on (default: $SENTIMENT_SERVE_HOST or {_setting_default('serve_host')}).")] = None,
    port: Annotated[Optional[int], typer.Option(help=f"Port to listen on (default: $SENTIMENT_SERVE_PORT or {_setting_default('serve_port')}).")] = None,
    runtime: Annotated[Optional[str], typer.Option(help=f"keras, onnx or onnx-quantized (default: $SENTIMENT_SERVE_RUNTIME or {_setting_default('serve_runtime')}).")] = None,
    max_batch_size: Annotated[Optional[int], typer.Option(help="Most reviews per model call; 1 turns micro-batching off.")] = None,
    max_wait_ms: Annotated[Optional[float], typer.Option(help="Longest a request waits for others to join its model call.")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Serve real-time predictions over HTTP (POST /v1/predict, /healthz, /readyz, /metrics, /docs)."""
    import logging

    import pydantic

    from sentiment_model.core.errors import ConfigError
    from sentiment_model.core.settings import get_settings

    try:
        settings = get_settings(
            data_root=data_root,
            serve_model=model,
            serve_host=host,
            serve_port=port,
            serve_runtime=runtime,
            serve_max_batch_size=max_batch_size,
            serve_max_wait_ms=max_wait_ms,
        )
    except pydantic.ValidationError as exc:
        problem = exc.errors()[0]
        raise ConfigError(f"serve setting {problem['loc'][0]}={problem.get('input')!r}: {problem['msg']}") from None
    checked_data_root(settings.data_root, settings.serve_model, writes=False)
    from sentiment_model.serving.server import serve as serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Header deadlines, keep-alive and graceful shutdown (requests in flight finish, then
    # the app's lifespan drains the micro-batch queue): serving/server.py.
    serve_forever(settings)


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", help="onnx or tflite.")],
    model: Annotated[str, typer.Option(help="Model version, 'champion', or a model folder path.")] = "champion",
    quantize: Annotated[Optional[str], typer.Option(help="dynamic: int8 weights (4x smaller).")] = None,
    out: Annotated[Optional[str], typer.Option(help="New folder to write (default: exports/<version>-<format>[-int8]).")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Export a model to a self-contained ONNX or TFLite folder (model, vocabulary, offsets, README)."""
    # Converters reject the cuDNN ops an LSTM traces to on a GPU: export on the CPU.
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import posixpath

    from sentiment_model.core.errors import ConfigError
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.core.settings import get_settings

    if format not in ("onnx", "tflite"):
        raise ConfigError(f"--format {format!r}: use onnx or tflite")
    if quantize not in (None, "dynamic"):
        raise ConfigError(f"--quantize {quantize!r}: the only quantization is 'dynamic' (full int8 of LSTMs crashes the TFLite converter)")
    from sentiment_model.model.export import check_export_folder, export_classifier
    from sentiment_model.model.registry import load_model_dir, resolve_model_dir

    settings = get_settings(data_root=checked_data_root(data_root, model, writes=False))
    root = DataRoot(settings.data_root, settings.storage_options)
    model_dir = resolve_model_dir(root, model)
    folder = out or os.path.join("exports", f"{posixpath.basename(model_dir.rstrip('/'))}-{format}" + ("-int8" if quantize else ""))
    check_export_folder(folder)  # before TensorFlow loads the model
    classifier = load_model_dir(root, model_dir)
    written = export_classifier(classifier, folder, format, quantize == "dynamic")  # type: ignore[arg-type]
    size_mb = (written / ("model." + format)).stat().st_size / 2**20
    typer.echo(f"exported {classifier.version} as {format}{' (int8 weights)' if quantize else ''}: {written} ({size_mb:.1f} MB model file)")


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


def retrain_config(options: dict[str, Any]) -> Any:
    """The RetrainConfig the given options describe (None: not given); an invalid value is
    one ConfigError line naming its option."""
    import pydantic

    from sentiment_model.core.errors import ConfigError
    from sentiment_model.model.vectors import read_vectors
    from sentiment_model.training.config import RetrainConfig, TrainConfig

    fields = retrain_fields()
    given = {name: value.date() if isinstance(value, dt.datetime) else value for name, value in options.items() if value is not None}
    for name, value in given.items():  # "--frozen-embeddings none": None, for a field that takes it
        if isinstance(value, str) and value.lower() == "none" and _without_none(fields[name].annotation) is not fields[name].annotation:
            given[name] = None
    train = {name: value for name, value in given.items() if name in TrainConfig.model_fields}
    try:
        config = RetrainConfig(train=TrainConfig(**train), **{name: value for name, value in given.items() if name not in train})
    except pydantic.ValidationError as exc:
        problems = "; ".join(_option_problem(e) for e in exc.errors())
        raise ConfigError(f"invalid retrain option: {problems}") from None
    for source in (config.train.frozen_embeddings, config.train.embeddings):
        if source and source not in ("random", "word2vec"):
            read_vectors(source)  # a missing extra or file is one line now, not a failed run later
    return config


def _option_problem(error: Any) -> str:
    """One pydantic error as "--option: message" (the field, not the list index; a check
    across fields has no field)."""
    fields = [part for part in error["loc"] if isinstance(part, str) and part != "train"]
    message = error["msg"].removeprefix("Value error, ")
    return f"--{fields[0].replace('_', '-')}: {message}" if fields else message


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


#: sysexits.h's EX_TEMPFAIL: the command did not fail on its input; running it again later
#: may succeed (a scheduler or a shell loop can retry on this code alone).
EXIT_TRY_AGAIN = 75


def prefect_api_outage(exc: BaseException) -> str | None:
    """One line for an error that is the Prefect API not answering (a 5xx status after
    the client's retries, or no connection), found anywhere in ``exc``'s chain; None
    for anything else. Its requests are told apart by the API's URL, or (the ephemeral
    API, whose URL is not a setting) by Prefect's own status error."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL

    api_url = (PREFECT_API_URL.value() or "").rstrip("/")
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, httpx.HTTPStatusError | httpx.TransportError):
            request = error._request  # None for a transport error raised outside a request
            from_api = request is not None and ((api_url and str(request.url).startswith(api_url)) or isinstance(error, PrefectHTTPStatusError))
            if isinstance(error, httpx.HTTPStatusError):
                what, unavailable = f"{error.response.status_code} {error.response.reason_phrase}", error.response.status_code >= 500
            else:
                what, unavailable = _one_line(str(error)) or type(error).__name__, True
            if from_api and unavailable:
                return (
                    f"the Prefect API at {api_url or request.url.copy_with(path='/api', query=None)} did not answer {request.method} {request.url.path} "
                    f"({what}) after the client's retries; the command stopped before it finished: run it again "
                    "(PREFECT_CLIENT_MAX_RETRIES sets how often the client retries)"
                )
        error = error.__cause__ or error.__context__
    return None


def _one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":
    main()
