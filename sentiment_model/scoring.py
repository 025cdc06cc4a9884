"""Scoring nightly batches: validate, stream, predict, and publish a day atomically.

A day's output is ``<root>/scored/date=D/run=<run_id>/part-*.parquet`` plus
``<root>/scored/date=D/_MANIFEST.json`` naming the live run's files. The manifest is
swapped atomically after every part is written, so readers see the previous complete
output or the new one, never a mix; a run killed mid-way leaves the old one live.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sentiment_model.classifier import SentimentClassifier
from sentiment_model.layout import DataRoot
from sentiment_model.schema import BATCH_OPTIONAL_COLUMNS, CANONICAL_SCHEMA, EMPTY_TEXT_LABEL, LABELS, QUARANTINE_SCHEMA, SCORED_SCHEMA
from sentiment_model.text import PAD_ID, review_text, tokenize
from sentiment_model.batching import inference_batches

MANIFEST = "_MANIFEST.json"
TOP_TOKENS = 3
_PREDICT_LOCK = threading.Lock()  # one model, many scoring threads: predict one batch at a time


class BatchValidationError(ValueError):
    """A nightly batch file does not match the canonical schema (the message names file and column)."""


@dataclass
class FileScore:
    source: str
    rows_read: int = 0
    scored: int = 0
    quarantined: int = 0
    part: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


def list_day_files(root: DataRoot, day: dt.date) -> list[str]:
    """The day's batch files (sorted); an empty list when the folder is missing or empty."""
    folder = root.incoming_dir(day)
    if not root.exists(folder):
        return []
    return sorted(p for p in root.fs.find(folder) if not posixpath.basename(p).startswith(("_", ".")))


def validate_batch_schema(schema: pa.Schema, source: str) -> None:
    """Every canonical column must be present with a compatible type, except the optional
    ones (``schema.BATCH_OPTIONAL_COLUMNS``), which are filled with nulls."""
    for canonical in CANONICAL_SCHEMA:
        if canonical.name not in schema.names:
            if canonical.name in BATCH_OPTIONAL_COLUMNS:
                continue
            raise BatchValidationError(f"{source}: missing column {canonical.name!r} (expected {canonical.type})")
        actual = schema.field(canonical.name).type
        compatible = actual == canonical.type or (pa.types.is_string(canonical.type) and pa.types.is_large_string(actual)) or (
            pa.types.is_integer(canonical.type) and pa.types.is_integer(actual)) or (pa.types.is_timestamp(canonical.type) and pa.types.is_timestamp(actual))
        if not compatible:
            raise BatchValidationError(f"{source}: column {canonical.name!r} has type {actual}, expected {canonical.type}")


def _conform(batch: pa.RecordBatch) -> pa.Table:
    """Cast a validated batch to the canonical schema, adding absent optional columns as nulls."""
    table = pa.Table.from_batches([batch])
    columns = {}
    for canonical in CANONICAL_SCHEMA:
        if canonical.name in table.column_names:
            columns[canonical.name] = table.column(canonical.name).cast(canonical.type)
        else:
            columns[canonical.name] = pa.nulls(table.num_rows, canonical.type)
    return pa.table(columns, schema=CANONICAL_SCHEMA.remove_metadata())


def _row_problems(table: pa.Table) -> pa.Array:
    """A reason per row that cannot be scored (null where fine)."""
    no_id = pc.or_(pc.is_null(table.column("review_id")), pc.equal(pc.fill_null(table.column("review_id"), ""), ""))
    empty = pc.and_(pc.equal(pc.fill_null(table.column("title"), ""), ""), pc.equal(pc.fill_null(table.column("text"), ""), ""))
    rating = table.column("rating")
    bad_rating = pc.and_(pc.is_valid(rating), pc.or_(pc.less(rating, 1), pc.greater(rating, 5)))
    none = pa.scalar(None, pa.string())
    return pc.coalesce(
        pc.if_else(no_id, "missing review_id", none),
        pc.if_else(empty, "missing text: title and body are empty", none),
        pc.if_else(pc.fill_null(bad_rating, False), "rating outside 1-5", none),
    ).combine_chunks()


def predict_with_tokens(classifier: SentimentClassifier, texts: pa.Array) -> tuple[np.ndarray, list[list[str]]]:
    """Probabilities and each review's top tokens (by attention weight), in one bucketed pass."""
    ids, lengths = classifier.encode(texts)
    explainer = classifier.attention_explainer()
    probabilities = np.zeros((len(ids), len(LABELS)), dtype=np.float32)
    top: list[list[str]] = [[] for _ in range(len(ids))]
    tokens = ("", "[UNK]", *classifier.vocabulary.tokens)
    for rows, width in inference_batches(lengths, classifier.buckets):
        batch = ids[rows, :width]
        with _PREDICT_LOCK:
            if explainer is None:
                probabilities[rows] = np.asarray(classifier.model.predict_on_batch(batch))
                continue
            batch_probabilities, weights = explainer.predict_on_batch(batch)
        probabilities[rows] = np.asarray(batch_probabilities)
        weights = np.where(batch == PAD_ID, -1.0, np.asarray(weights))
        best = np.argsort(-weights, axis=1)[:, :TOP_TOKENS]
        for row, positions in zip(rows, best, strict=True):
            top[row] = [tokens[ids[row, p]] for p in positions if ids[row, p] > 1]
    return probabilities, top


def empty_texts(texts: pa.Array) -> np.ndarray:
    """True where a text gives the model no token (whitespace, zero-width characters,
    punctuation only): there is nothing to predict from, so it is labelled, not scored."""
    return np.asarray(pc.equal(pc.list_value_length(tokenize(texts)), 0).to_numpy(zero_copy_only=False), dtype=bool)


def predict_labels(classifier: SentimentClassifier, texts: pa.Array) -> tuple[np.ndarray, list[list[str]], np.ndarray]:
    """Probabilities, top tokens and label names; texts without tokens skip the model
    and get :data:`EMPTY_TEXT_LABEL` with all-zero probabilities."""
    empty = empty_texts(texts)
    probabilities = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    top_tokens: list[list[str]] = [[] for _ in range(len(texts))]
    labels = np.full(len(texts), EMPTY_TEXT_LABEL, dtype=object)
    scored = np.flatnonzero(~empty)
    if len(scored):
        scored_probabilities, scored_tokens = predict_with_tokens(classifier, texts.take(pa.array(scored)))
        probabilities[scored] = scored_probabilities
        for row, tokens in zip(scored, scored_tokens, strict=True):
            top_tokens[row] = tokens
        labels[scored] = np.array(LABELS, dtype=object)[classifier.decide(scored_probabilities)]
    return probabilities, top_tokens, labels


def score_table(classifier: SentimentClassifier, table: pa.Table, scored_at: dt.datetime) -> pa.Table:
    """Scored rows for canonical rows that passed the row checks."""
    texts = review_text(table.column("title"), table.column("text"))
    probabilities, top_tokens, labels = predict_labels(classifier, texts)
    n = table.num_rows
    review_date = pc.cast(table.column("review_time"), pa.date32())
    return pa.table(
        {
            "review_id": table.column("review_id"),
            "product_id": table.column("product_id"),
            "rating": table.column("rating"),
            "predicted_label": pa.array(labels, type=pa.string()),
            "p_negative": pa.array(probabilities[:, 0], type=pa.float32()),
            "p_neutral": pa.array(probabilities[:, 1], type=pa.float32()),
            "p_positive": pa.array(probabilities[:, 2], type=pa.float32()),
            "confidence": pa.array(probabilities.max(1), type=pa.float32()),
            "top_tokens": pa.array(top_tokens, type=pa.list_(pa.string())),
            "review_date": review_date,
            "model_version": pa.array([classifier.version] * n, type=pa.string()),
            "scored_at": pa.array([scored_at] * n, type=pa.timestamp("s", tz="UTC")),
        },
        schema=SCORED_SCHEMA,
    )


def score_file(
    root: DataRoot,
    classifier: SentimentClassifier,
    source: str,
    day: dt.date,
    run_id: str,
    part_index: int,
    scored_at: dt.datetime,
    batch_rows: int = 16_384,
) -> FileScore:
    """Stream one batch file in record batches, score, and write one part of the run.
    Rows that cannot be scored go to the day's quarantine file for this run.

    Memory is bounded per record batch, not per day: ``batch_rows`` rows of text, ids and
    top tokens at a time (16K rows: ~4x less than 64K at the same speed), and the model
    sees at most ``batching.MAX_BATCH_TOKENS`` padded tokens per call."""
    result = FileScore(source=source)
    out_dir = posixpath.join(root.scored_dir(day), f"run={run_id}")
    part = posixpath.join(out_dir, f"part-{part_index:05d}.parquet")
    quarantine = posixpath.join(root.scored_dir(day), f"quarantine-run={run_id}", f"part-{part_index:05d}.parquet")
    root.fs.makedirs(out_dir, exist_ok=True)
    try:
        with root.fs.open(source, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            validate_batch_schema(parquet.schema_arrow, root.uri(source))
            reasons: dict[str, int] = {}
            bad_tables = []
            with root.fs.open(part, "wb") as out, pq.ParquetWriter(out, SCORED_SCHEMA, compression="zstd") as writer:
                for batch in parquet.iter_batches(batch_size=batch_rows):
                    table = _conform(batch)
                    result.rows_read += table.num_rows
                    problems = _row_problems(table)
                    ok = pc.is_null(problems)
                    if not pc.all(ok).as_py():
                        bad = pc.invert(ok)
                        bad_rows = table.filter(bad)
                        bad_reasons = problems.filter(bad)
                        for reason in bad_reasons.to_pylist():
                            reasons[reason] = reasons.get(reason, 0) + 1
                        bad_tables.append(pa.table({
                            "source": [root.uri(source)] * bad_rows.num_rows,
                            "record_number": pa.nulls(bad_rows.num_rows, pa.int64()),
                            "raw": [str(r) for r in bad_rows.to_pylist()],
                            "quarantine_reason": bad_reasons,
                            "ingested_at": [scored_at] * bad_rows.num_rows,
                        }, schema=QUARANTINE_SCHEMA))
                        table = table.filter(ok)
                    if table.num_rows:
                        writer.write_table(score_table(classifier, table, scored_at))
                        result.scored += table.num_rows
    except pa.ArrowInvalid as exc:
        raise BatchValidationError(f"{root.uri(source)}: not a readable Parquet file: {exc}") from exc
    if bad_tables:
        root.fs.makedirs(posixpath.dirname(quarantine), exist_ok=True)
        with root.fs.open(quarantine, "wb") as handle:
            pq.write_table(pa.concat_tables(bad_tables), handle)
        result.quarantined = sum(t.num_rows for t in bad_tables)
        result.quarantine_reasons = reasons
    result.part = part
    return result


def publish_day(root: DataRoot, day: dt.date, run_id: str, results: list[FileScore], model_version: str) -> dict[str, Any]:
    """Swap the day's manifest to this run, then remove older runs' folders.

    Run ids sort by start time and the newest run wins: a run that finds a newer run's
    manifest already published discards its own output instead of overwriting it, and
    cleanup only removes older runs, so two overlapping runs of one date never delete
    each other's files (the deployment's concurrency limit normally prevents overlap).
    """
    folder = root.scored_dir(day)
    manifest_path = posixpath.join(folder, MANIFEST)
    current = root.read_json(manifest_path) if root.exists(manifest_path) else None
    if current is not None and current["run_id"] > run_id:
        _remove_runs(root, folder, lambda other: other == run_id)
        return {**current, "superseded_run": run_id}
    manifest = {
        "date": day.isoformat(),
        "run_id": run_id,
        "model_version": model_version,
        "files": [posixpath.relpath(r.part, folder) for r in results if r.part and r.scored],
        "rows": sum(r.scored for r in results),
        "quarantined": sum(r.quarantined for r in results),
        "published_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    root.write_json_atomic(manifest_path, manifest)
    _remove_runs(root, folder, lambda other: other < run_id)
    return manifest


def _remove_runs(root: DataRoot, folder: str, doomed: Any) -> None:
    if not root.exists(folder):
        return
    for entry in root.fs.ls(folder, detail=False):
        name = posixpath.basename(entry.rstrip("/"))
        if name.startswith(("run=", "quarantine-run=")) and doomed(name.split("=", 1)[1]):
            root.remove_tree(entry)


def scored_files(root: DataRoot, day: dt.date) -> list[str]:
    """The live scored parts of a day (via its manifest); empty if never scored."""
    folder = root.scored_dir(day)
    path = posixpath.join(folder, MANIFEST)
    if not root.exists(path):
        return []
    return [posixpath.join(folder, name) for name in root.read_json(path)["files"]]


def read_scored_day(root: DataRoot, day: dt.date) -> pa.Table:
    files = scored_files(root, day)
    if not files:
        return SCORED_SCHEMA.empty_table()
    tables = []
    for path in files:
        with root.fs.open(path, "rb") as handle:
            tables.append(pq.read_table(handle).cast(SCORED_SCHEMA))  # Parquet stores seconds as ms
    return pa.concat_tables(tables)


def score_day(
    root: DataRoot,
    classifier: SentimentClassifier,
    day: dt.date,
    run_id: str,
    scored_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Score every batch file of ``day`` in this process and publish it: the library
    path the nightly flow orchestrates (the flow fans the files out as tasks)."""
    scored_at = scored_at or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    files = list_day_files(root, day)
    results = [score_file(root, classifier, source, day, run_id, index, scored_at) for index, source in enumerate(files)]
    return publish_day(root, day, run_id, results, classifier.version or "unversioned")
