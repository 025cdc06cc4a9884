"""Commands around a trained model: evaluate, explain, serve, export."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from flows.cli._app import DataRootOption, _setting_default, app
from flows.cli.checks import checked_data_root


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
    model: Annotated[str | None, typer.Option(help="champion (hot-reloaded when the pointer moves), a version, or a model folder.")] = None,
    host: Annotated[str | None, typer.Option(help=f"Address to listen on (default: $SENTIMENT_SERVE_HOST or {_setting_default('serve_host')}).")] = None,
    port: Annotated[int | None, typer.Option(help=f"Port to listen on (default: $SENTIMENT_SERVE_PORT or {_setting_default('serve_port')}).")] = None,
    runtime: Annotated[str | None, typer.Option(help=f"keras, onnx or onnx-quantized (default: $SENTIMENT_SERVE_RUNTIME or {_setting_default('serve_runtime')}).")] = None,
    max_batch_size: Annotated[int | None, typer.Option(help="Most reviews per model call; 1 turns micro-batching off.")] = None,
    max_wait_ms: Annotated[float | None, typer.Option(help="Longest a request waits for others to join its model call.")] = None,
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
    quantize: Annotated[str | None, typer.Option(help="dynamic: int8 weights (4x smaller).")] = None,
    out: Annotated[str | None, typer.Option(help="New folder to write (default: exports/<version>-<format>[-int8]).")] = None,
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
