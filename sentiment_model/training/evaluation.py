"""Score any labelled raw dump with a registered model and compute the metrics JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from sentiment_model.core.errors import ConfigError
from sentiment_model.ingest.pipeline import SourceFileError, read_source_rows
from sentiment_model.ingest.sources import PRESETS, SourceSpec, build_spec, load_manifest, resolve_files
from sentiment_model.training.data import add_labels
from sentiment_model.training.metrics import classification_metrics

if TYPE_CHECKING:  # the source is read (and checked) before Keras loads
    from sentiment_model.model.classifier import SentimentClassifier


def spec_for(format_name: str, uri: str, manifest_path: str | None = None) -> SourceSpec:
    """A source spec from a preset name (``mcauley_json``, ``aws_tsv``, ...) or from the
    name of an entry in the sources manifest (for CSVs that need a column mapping)."""
    if manifest_path:
        for spec in load_manifest(manifest_path).sources:
            if spec.name == format_name:
                return spec.model_copy(update={"uri": uri})
    if format_name not in PRESETS:
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(f"--format {format_name!r} is neither a preset ({known}) nor a source in {manifest_path}")
    return build_spec({"name": format_name, "uri": uri, "preset": format_name})


def read_labelled_source(spec: SourceSpec, base_uri: str = ".", storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every file the spec matches, deduplicated by review_id and labelled. A source that
    cannot be read, or holds no rated review, raises :class:`ConfigError`."""
    files = resolve_files(spec, base_uri, storage_options)
    if not files:
        raise ConfigError(f"no file matches {spec.uri!r}")
    tables, records, reasons = [], 0, {}
    for source in files:
        try:
            rows, read, why = read_source_rows(spec, source, storage_options=storage_options)
        except SourceFileError as exc:
            if exc.transient:
                raise
            raise ConfigError(str(exc)) from None
        tables.append(rows)
        records += read
        for key, count in why.items():
            reasons[key] = reasons.get(key, 0) + count
    table = pa.concat_tables(tables)
    if table.num_rows == 0:
        raise ConfigError(f"{spec.uri}: no rated review to evaluate against ({records} records read; quarantined: {reasons or 'none'})")
    _, first = np.unique(table.column("review_id").to_numpy(zero_copy_only=False), return_index=True)
    return {"table": add_labels(table.take(sorted(first))), "source": spec.uri, "files": files, "records_read": records, "quarantined": reasons}


def evaluate_labelled(classifier: SentimentClassifier, labelled: dict[str, Any]) -> dict[str, Any]:
    """Score what :func:`read_labelled_source` read, and measure."""
    from sentiment_model.training.data import texts_and_labels

    texts, labels = texts_and_labels(labelled["table"])
    probabilities = classifier.predict_proba(texts)
    metrics = classification_metrics(labels, probabilities, classifier.decide(probabilities))
    return {**metrics, "model_version": classifier.version, **{k: v for k, v in labelled.items() if k != "table"}}


def evaluate_source(classifier: SentimentClassifier, spec: SourceSpec, base_uri: str = ".", storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read every file the spec matches, deduplicate by review_id, score, and measure."""
    return evaluate_labelled(classifier, read_labelled_source(spec, base_uri, storage_options))
