"""The one place that defines every table schema the pipeline writes.

Each stage validates what it reads against these schemas, so a change here is a
change of the on-disk contract: update docs/architecture.md with it.
"""

from __future__ import annotations

import pyarrow as pa

#: Class names in label-id order. Stars 1-2 -> negative, 3 -> neutral, 4-5 -> positive.
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

#: The label id of each star rating 1..5: the labelling rule, and how a one-class-per-star
#: model's five probabilities fold into the three classes.
STAR_LABEL_IDS: tuple[int, ...] = (0, 0, 1, 2, 2)

#: The label of a scored review that gives the model no token (empty after normalization:
#: only whitespace, zero-width characters, punctuation): not a prediction, so it is kept
#: out of the class shares and counted on its own.
EMPTY_TEXT_LABEL = "empty_text"

#: Characters kept of a title or body: one runaway record must not blow up a batch (1 MB
#: of text is ~200K tokens). Ingest stores texts cut to it; the classifier reads no more.
MAX_TEXT_CHARS = 20_000

#: Canonical review, written by ingest under ``<root>/canonical/`` and staged as
#: nightly batches under ``<root>/incoming/``.
CANONICAL_SCHEMA = pa.schema(
    [
        pa.field("review_id", pa.string(), nullable=False),  # 32 hex chars: md5 of source family + dedup key
        pa.field("product_id", pa.string()),
        pa.field("reviewer_id", pa.string()),
        pa.field("rating", pa.int8()),  # 1..5 in canonical; may be null in a nightly batch
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("review_time", pa.timestamp("s", tz="UTC")),
        pa.field("source", pa.string(), nullable=False),  # the source file's URI
        pa.field("ingested_at", pa.timestamp("s", tz="UTC"), nullable=False),
    ]
)

#: Ingest's per-file scratch rows: canonical plus a content hash, so a repeated review_id
#: with different content is caught at merge time (never written to canonical).
STAGED_SCHEMA = CANONICAL_SCHEMA.append(pa.field("content_hash", pa.string(), nullable=False))

#: Staged rows as stored under ``<root>/_staged/``: plus the row's position among the
#: file's valid rows (manifest order = file order, then this) and its hash slot (the
#: first 12 bits of review_id), by which the rows are sorted and bucketed for dedup.
STAGED_PART_SCHEMA = STAGED_SCHEMA.append(pa.field("file_row", pa.int64(), nullable=False)).append(pa.field("hash_slot", pa.int16(), nullable=False))

#: One rejected raw record, under ``<root>/quarantine/``.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("record_number", pa.int64()),  # 1-based record index in the file (null if unknown)
        pa.field("raw", pa.string()),  # raw line/block, or the parsed fields as JSON
        pa.field("quarantine_reason", pa.string(), nullable=False),
        pa.field("ingested_at", pa.timestamp("s", tz="UTC"), nullable=False),
    ]
)

#: One scored review, under ``<root>/scored/date=YYYY-MM-DD/``.
SCORED_SCHEMA = pa.schema(
    [
        pa.field("review_id", pa.string(), nullable=False),
        pa.field("product_id", pa.string()),
        pa.field("rating", pa.int8()),  # stars when the feed has them: live quality monitoring
        pa.field("predicted_label", pa.string(), nullable=False),  # a LABELS name, or EMPTY_TEXT_LABEL (p_* and confidence 0)
        pa.field("p_negative", pa.float32(), nullable=False),
        pa.field("p_neutral", pa.float32(), nullable=False),
        pa.field("p_positive", pa.float32(), nullable=False),
        # A one-class-per-star model's most probable star, 1..5 (null for a three-class
        # model, or files scored before it existed): the report's five-class view.
        pa.field("predicted_stars", pa.int8()),
        pa.field("confidence", pa.float32(), nullable=False),  # the top probability
        pa.field("top_tokens", pa.list_(pa.string())),  # highest attention weights
        pa.field("review_date", pa.date32()),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("scored_at", pa.timestamp("s", tz="UTC"), nullable=False),
    ]
)


def conform_scored(table: pa.Table) -> pa.Table:
    """A scored part as :data:`SCORED_SCHEMA`: Parquet stores seconds as ms, and parts
    written before a nullable column existed (``predicted_stars``) get it as nulls."""
    for index, field in enumerate(SCORED_SCHEMA):
        if field.name not in table.column_names and field.nullable:
            table = table.add_column(index, field.name, pa.nulls(table.num_rows, field.type))
    return table.select(SCORED_SCHEMA.names).cast(SCORED_SCHEMA)


#: Canonical columns a nightly batch may leave out (not every feed has stars or times);
#: every other canonical column must be present with a compatible type.
BATCH_OPTIONAL_COLUMNS: tuple[str, ...] = ("rating", "review_time", "reviewer_id", "source", "ingested_at")
