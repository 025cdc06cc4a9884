"""Scoring nightly batches: validate, stream, predict, and publish a day atomically.

A day's output is ``<root>/scored/date=D/run=<run_id>/part-*.parquet`` plus
``<root>/scored/date=D/_MANIFEST.json`` naming the live run's files. The manifest is
swapped atomically after every part is written, so readers see the previous complete
output or the new one, never a mix; a run killed mid-way leaves the old one live.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sentiment_model.core.errors import ConfigError, corrupt_file_error, is_unreadable_data
from sentiment_model.core.layout import SCORED_MANIFEST, DataRoot, parse_run_folder
from sentiment_model.core.pointers import swap_json
from sentiment_model.core.schema import QUARANTINE_SCHEMA, SCORED_SCHEMA, conform_scored
from sentiment_model.model.text import review_text
from sentiment_model.scoring.conform import BatchValidationError, conform, raw_rows, row_problems, validate_batch_schema

if TYPE_CHECKING:  # Keras (and TensorFlow) load with a model, not with this module: flows import it to validate parameters
    from sentiment_model.model.classifier import SentimentClassifier

MANIFEST = SCORED_MANIFEST  # known by this name to callers
TOP_TOKENS = 3  # kept per scored row, by attention weight


class EmptyRunRefused(ConfigError):
    """A run that scored nothing would replace a published day that has reviews."""


class MissingInput(ConfigError):
    """A night had no batch file at all, and quiet nights were not declared normal."""


@dataclass
class FileScore:
    source: str
    rows_read: int = 0
    scored: int = 0
    quarantined: int = 0
    duplicates: int = 0  # rows whose review_id came earlier in the day (first copy wins)
    part: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


def list_day_files(root: DataRoot, day: dt.date) -> list[str]:
    """The day's batch files (sorted); an empty list when the folder is missing or empty."""
    folder = root.incoming_dir(day)
    if not root.exists(folder):
        return []
    return sorted(p for p in root.fs.find(folder) if not posixpath.basename(p).startswith(("_", ".")))


def score_table(classifier: SentimentClassifier, table: pa.Table, scored_at: dt.datetime) -> pa.Table:
    """Scored rows for canonical rows that passed the row checks."""
    labelled = classifier.label(review_text(table.column("title"), table.column("text")), top_tokens=TOP_TOKENS)
    probabilities = labelled.probabilities
    stars = np.zeros(len(labelled), dtype=np.int8) if labelled.stars is None else labelled.stars
    n = table.num_rows
    review_date = pc.cast(table.column("review_time"), pa.date32())
    return pa.table(
        {
            "review_id": table.column("review_id"),
            "product_id": table.column("product_id"),
            "rating": table.column("rating"),
            "predicted_label": pa.array(labelled.labels, type=pa.string()),
            "p_negative": pa.array(probabilities[:, 0], type=pa.float32()),
            "p_neutral": pa.array(probabilities[:, 1], type=pa.float32()),
            "p_positive": pa.array(probabilities[:, 2], type=pa.float32()),
            "predicted_stars": pa.array(stars, type=pa.int8(), mask=stars == 0),
            "confidence": pa.array(probabilities.max(1), type=pa.float32()),
            "top_tokens": pa.array(labelled.top_tokens, type=pa.list_(pa.string())),
            "review_date": review_date,
            "model_version": pa.array([classifier.version] * n, type=pa.string()),
            "scored_at": pa.array([scored_at] * n, type=pa.timestamp("s", tz="UTC")),
        },
        schema=SCORED_SCHEMA,
    )


def _create(root: DataRoot, path: str) -> Any:
    """Open a new output file, making its folder. A newer run of the day that published
    meanwhile removes this (then superseded) run's folder, even while it is being made
    (the folder exists, then is gone before it is checked: ``FileExistsError``); make it
    again rather than fail: the run finds itself superseded when it publishes and removes
    its own files."""
    for _ in range(3):
        try:
            root.fs.makedirs(posixpath.dirname(path), exist_ok=True)
            return root.fs.open(path, "wb")
        except (FileNotFoundError, FileExistsError):
            continue
    root.fs.makedirs(posixpath.dirname(path), exist_ok=True)
    return root.fs.open(path, "wb")


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
    part = root.scored_part(day, run_id, part_index)
    quarantine = root.scored_quarantine_part(day, run_id, part_index)
    try:
        with root.fs.open(source, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            validate_batch_schema(parquet.schema_arrow, root.uri(source))
            reasons: dict[str, int] = {}
            bad_tables = []
            with _create(root, part) as out, pq.ParquetWriter(out, SCORED_SCHEMA, compression="zstd") as writer:
                for batch in parquet.iter_batches(batch_size=batch_rows):
                    table, cast_problems = conform(batch, root.uri(source))
                    result.rows_read += table.num_rows
                    problems = row_problems(table, cast_problems)
                    ok = pc.is_null(problems)
                    if not pc.all(ok).as_py():
                        bad = pc.invert(ok)
                        bad_rows = batch.filter(bad)  # as read: a value that did not fit stays visible
                        bad_reasons = problems.filter(bad)
                        for reason in bad_reasons.to_pylist():
                            reasons[reason] = reasons.get(reason, 0) + 1
                        bad_tables.append(
                            pa.table(
                                {
                                    "source": [root.uri(source)] * bad_rows.num_rows,
                                    "record_number": pa.nulls(bad_rows.num_rows, pa.int64()),
                                    "raw": raw_rows(bad_rows),
                                    "quarantine_reason": bad_reasons,
                                    "ingested_at": [scored_at] * bad_rows.num_rows,
                                },
                                schema=QUARANTINE_SCHEMA,
                            )
                        )
                        table = table.filter(ok)
                    if table.num_rows:
                        writer.write_table(score_table(classifier, table, scored_at))
                        result.scored += table.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
        raise BatchValidationError(f"{root.uri(source)}: not a readable Parquet file: {_one_line(exc)}") from exc
    except OSError as exc:
        if not _is_damaged_parquet(exc):
            raise  # the storage's own error: retried when transient
        raise BatchValidationError(f"{root.uri(source)}: not a readable Parquet file (truncated or corrupt): {_one_line(exc)}") from exc
    if bad_tables:
        with _create(root, quarantine) as handle:
            pq.write_table(pa.concat_tables(bad_tables), handle)
        result.quarantined = sum(t.num_rows for t in bad_tables)
        result.quarantine_reasons = reasons
    result.part = part
    return result


def _is_damaged_parquet(exc: OSError) -> bool:
    """Arrow reports damaged bytes (a corrupt page, footer or compressed block) as a plain
    OSError without an errno; the storage's errors carry an errno or a subclass
    (ConnectionError, TimeoutError, FileNotFoundError...), and are not the file's fault."""
    return type(exc) is OSError and exc.errno is None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def drop_day_duplicates(root: DataRoot, results: list[FileScore]) -> list[FileScore]:
    """One row per review_id across the day, first copy wins (file order, then row order):
    later copies are removed from the run's parts and counted as ``duplicates``.

    Counts are taken from what the parts hold, so running this twice (a retried publish)
    gives the same numbers. Memory: the day's review ids, one column."""
    written = [i for i, r in enumerate(results) if r.part and (r.scored or root.exists(r.part))]
    ids, positions = [], []
    for order, index in enumerate(written):
        with root.fs.open(results[index].part, "rb") as handle:  # a missing part raises FileNotFoundError
            column = pq.read_table(handle, columns=["review_id"]).column(0)
        ids.extend(column.chunks)
        positions.append(pa.array(np.arange(len(column), dtype=np.int64) + (order << 32)))
    keep_by_result: dict[int, np.ndarray] = {}
    if written:
        day = pa.table({"id": pa.chunked_array(ids, pa.string()), "pos": pa.chunked_array(positions, pa.int64())})
        firsts = day.group_by("id", use_threads=False).aggregate([("pos", "min")]).column("pos_min").combine_chunks()
        is_first = pc.is_in(day.column("pos"), value_set=firsts).to_numpy(zero_copy_only=False)
        part_of_row = day.column("pos").to_numpy() >> 32
        keep_by_result = {index: is_first[part_of_row == order] for order, index in enumerate(written)}
    recounted = []
    for index, result in enumerate(results):
        keep = keep_by_result.get(index, np.zeros(0, dtype=bool))
        if not keep.all():
            with root.fs.open(result.part, "rb") as handle:
                part = pq.read_table(handle).cast(SCORED_SCHEMA).filter(pa.array(keep))
            with root.fs.open(result.part, "wb") as handle:
                pq.write_table(part, handle, compression="zstd")
        kept = int(keep.sum())
        recounted.append(dataclasses.replace(result, scored=kept, duplicates=result.rows_read - result.quarantined - kept))
    return recounted


def _newer_manifest(root: DataRoot, day: dt.date, run_id: str) -> dict[str, Any] | None:
    path = root.scored_manifest(day)
    current = root.read_json(path) if root.exists(path) else None
    return current if current is not None and current["run_id"] > run_id else None


def publish_day(root: DataRoot, day: dt.date, run_id: str, results: list[FileScore], model_version: str, allow_empty: bool = False) -> dict[str, Any]:
    """Drop the day's duplicate reviews, swap the day's manifest to this run (a
    compare-and-swap, :mod:`sentiment_model.core.pointers`), then remove older runs' folders.

    Run ids sort by start time and the newest run wins: a run that finds a newer run's
    manifest already published discards its own output instead of overwriting it. The
    manifest only ever moves to a newer run, so cleanup (older runs only, after the swap)
    never removes a part that the standing manifest names. A run that scored nothing
    does not replace a published day with reviews unless ``allow_empty`` (raises
    :class:`EmptyRunRefused`; the published day stays as it was).
    """
    folder = root.scored_dir(day)
    try:
        results = drop_day_duplicates(root, results)
    except FileNotFoundError:
        # A newer run that already published removes older runs' parts: then this run is
        # superseded; otherwise a part went missing, and publishing would lose it.
        newer = _newer_manifest(root, day, run_id)
        if newer is None:
            raise
        _remove_runs(root, folder, lambda other: other == run_id)
        return {**newer, "superseded_run": run_id}
    manifest = {
        "date": day.isoformat(),
        "run_id": run_id,
        "model_version": model_version,
        "files": [posixpath.relpath(r.part, folder) for r in results if r.part and r.scored],
        "rows": sum(r.scored for r in results),
        "quarantined": sum(r.quarantined for r in results),
        "duplicates": sum(r.duplicates for r in results),
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }

    def decide(current: dict[str, Any] | None) -> dict[str, Any] | None:
        if current is not None and current["run_id"] > run_id:
            return None
        if current is not None and current.get("rows", 0) > 0 and manifest["rows"] == 0 and not allow_empty:
            why = "no batch files" if not results else f"{len(results)} batch file(s), {manifest['quarantined']} rows quarantined"
            raise EmptyRunRefused(
                f"{day}: this run scored no reviews ({why} under {root.uri(root.incoming_dir(day))}); "
                f"the published run {current['run_id']} with {current['rows']} reviews is kept. "
                "To replace it with an empty day, pass --allow-empty (flow parameter allow_empty=true)."
            )
        return manifest

    written, standing = swap_json(root, root.scored_manifest(day), decide)
    if not written:
        _remove_runs(root, folder, lambda other: other == run_id)
        return {**standing, "superseded_run": run_id}
    _remove_runs(root, folder, lambda other: other < run_id)
    return manifest


def _remove_runs(root: DataRoot, folder: str, doomed: Any) -> None:
    if not root.exists(folder):
        return
    for entry in root.fs.ls(folder, detail=False):
        name = posixpath.basename(entry.rstrip("/"))
        run_id = parse_run_folder(name)
        if run_id is not None and doomed(run_id):
            root.remove_tree(entry)


def scored_files(root: DataRoot, day: dt.date) -> list[str]:
    """The live scored parts of a day (via its manifest); empty if never scored."""
    path = root.scored_manifest(day)
    if not root.exists(path):
        return []
    return [root.scored_listed_file(day, name) for name in root.read_json(path)["files"]]


def read_scored_day(root: DataRoot, day: dt.date) -> pa.Table:
    files = scored_files(root, day)
    if not files:
        return SCORED_SCHEMA.empty_table()
    tables = []
    for path in files:
        try:
            with root.fs.open(path, "rb") as handle:
                tables.append(conform_scored(pq.read_table(handle)))
        except Exception as exc:
            if not is_unreadable_data(exc):
                raise
            raise corrupt_file_error(root.uri(path), exc) from None  # a truncated part: named
    return pa.concat_tables(tables)


def score_day(
    root: DataRoot,
    classifier: SentimentClassifier,
    day: dt.date,
    run_id: str,
    scored_at: dt.datetime | None = None,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Score every batch file of ``day`` in this process and publish it: the library
    path the nightly flow orchestrates (the flow fans the files out as tasks)."""
    scored_at = scored_at or dt.datetime.now(dt.UTC).replace(microsecond=0)
    files = list_day_files(root, day)
    results = [score_file(root, classifier, source, day, run_id, index, scored_at) for index, source in enumerate(files)]
    return publish_day(root, day, run_id, results, classifier.version or "unversioned", allow_empty=allow_empty)
