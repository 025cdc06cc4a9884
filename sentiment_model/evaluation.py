"""Score any labelled raw dump with a registered model and compute the metrics JSON."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from sentiment_model.classifier import SentimentClassifier
from sentiment_model.data import add_labels
from sentiment_model.ingest.pipeline import read_source_rows
from sentiment_model.ingest.sources import SourceSpec, build_spec, load_manifest, resolve_files
from sentiment_model.metrics import classification_metrics
from sentiment_model.train import texts_and_labels


def spec_for(format_name: str, uri: str, manifest_path: str | None = None) -> SourceSpec:
    """A source spec from a preset name (``mcauley_json``, ``aws_tsv``, ...) or from the
    name of an entry in the sources manifest (for CSVs that need a column mapping)."""
    if manifest_path:
        for spec in load_manifest(manifest_path).sources:
            if spec.name == format_name:
                return spec.model_copy(update={"uri": uri})
    return build_spec({"name": format_name, "uri": uri, "preset": format_name})


def evaluate_source(classifier: SentimentClassifier, spec: SourceSpec, base_uri: str = ".", storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read every file the spec matches, deduplicate by review_id, score, and measure."""
    files = resolve_files(spec, base_uri, storage_options)
    if not files:
        raise FileNotFoundError(f"no file matches {spec.uri!r}")
    tables, records, reasons = [], 0, {}
    for source in files:
        rows, read, why = read_source_rows(spec, source, storage_options=storage_options)
        tables.append(rows)
        records += read
        for key, count in why.items():
            reasons[key] = reasons.get(key, 0) + count
    table = pa.concat_tables(tables)
    _, first = np.unique(table.column("review_id").to_numpy(zero_copy_only=False), return_index=True)
    table = add_labels(table.take(sorted(first)))
    texts, labels = texts_and_labels(table)
    probabilities = classifier.predict_proba(texts)
    metrics = classification_metrics(labels, probabilities, classifier.decide(probabilities))
    return {**metrics, "model_version": classifier.version, "source": spec.uri, "files": files, "records_read": records, "quarantined": reasons}
