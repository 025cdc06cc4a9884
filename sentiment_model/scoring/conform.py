"""A nightly batch read into the canonical schema, row by row: the schema checked per file
(a column that cannot hold the canonical value fails the file, naming it), then each
column cast so that a value that does not fit quarantines its row with a reason, not the
file (string ratings, pandas' int64 ratings and naive sub-second times included)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from sentiment_model.core.errors import ConfigError
from sentiment_model.core.schema import BATCH_OPTIONAL_COLUMNS, CANONICAL_SCHEMA


class BatchValidationError(ConfigError):
    """A nightly batch file cannot be read or does not match the canonical schema (the
    message names the file, and the column where one is to blame): the night fails with
    this one line (the CLI: exit 2)."""


def validate_batch_schema(schema: pa.Schema, source: str) -> None:
    """Every canonical column must be present with a compatible type, except the optional
    ones (``schema.BATCH_OPTIONAL_COLUMNS``), which are filled with nulls. Compatible:
    the same kind (any string, any timestamp unit or zone, any integer width), whole-number
    floats for ``rating`` (pandas writes an int column with gaps as float64), or an
    all-null column; values that do not fit are quarantined row by row (:func:`_conform`)."""
    for canonical in CANONICAL_SCHEMA:
        if canonical.name not in schema.names:
            if canonical.name in BATCH_OPTIONAL_COLUMNS:
                continue
            raise BatchValidationError(f"{source}: missing column {canonical.name!r} (expected {canonical.type})")
        actual = _decoded_type(schema.field(canonical.name).type)
        if not _compatible(actual, canonical.type):
            raise BatchValidationError(f"{source}: column {canonical.name!r} has type {actual}, expected {canonical.type}")


def _decoded_type(actual: pa.DataType) -> pa.DataType:
    """A dictionary-encoded column (what writers choose for repetitive text) is read as its values."""
    return actual.value_type if pa.types.is_dictionary(actual) else actual


def _is_text(actual: pa.DataType) -> bool:
    return pa.types.is_string(actual) or pa.types.is_large_string(actual)


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    if actual == expected or pa.types.is_null(actual):
        return True
    if pa.types.is_string(expected):
        return _is_text(actual)
    if pa.types.is_integer(expected):  # stars: numbers, or text cast row by row (CSV exports)
        return pa.types.is_integer(actual) or pa.types.is_floating(actual) or _is_text(actual)
    return pa.types.is_timestamp(expected) and pa.types.is_timestamp(actual)


_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
#: Times a batch may carry: years 1-9999 (what dates and the reports can represent).
TIME_RANGE_SECONDS = (-62_135_596_800, 253_402_300_799)
_NO_PROBLEM = pa.scalar(None, pa.string())


def _problem_where(mask: pa.Array, reason: str) -> pa.Array:
    return pc.if_else(pc.fill_null(mask, False), pa.scalar(reason), _NO_PROBLEM)


def _conform_rating(column: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Stars as int8; a value that is not a whole star in 1-5 becomes null with a reason
    (an int64 300 or a 3.5 is one bad row, not a bad file). NaN is a missing rating.
    Text ("5", " 4 ", "3.0") is read as a number row by row: text that is not a number
    ("five") is quarantined, empty text is a missing rating."""
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.int8()), pa.nulls(len(column), pa.string())
    if _is_text(column.type):
        column, not_number = _numbers_in_text(column)
        rating, problems = _conform_rating(column)
        return rating, pc.coalesce(not_number, problems)
    if pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
        not_whole = pc.invert(pc.equal(pc.floor(column), column))  # +-inf is "whole", and outside 1-5
        outside = pc.or_(pc.less(column, 1), pc.greater(column, 5))
        problems = pc.coalesce(_problem_where(not_whole, "rating is not a whole star"), _problem_where(outside, "rating outside 1-5"))
    else:
        problems = _problem_where(pc.or_(pc.less(column, 1), pc.greater(column, 5)), "rating outside 1-5")
    kept = pc.if_else(pc.is_null(problems), column, pa.scalar(None, column.type))
    return pc.cast(kept, pa.int8()), problems


#: A decimal number as text, e.g. "5", "+4", "3.0", " 2 " (stripped first).
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)$"


def _numbers_in_text(column: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Text as float64 per row: a reason where the text is not a number, null where it is
    empty (nothing given)."""
    text = pc.utf8_trim_whitespace(column.cast(pa.string()))
    given = pc.fill_null(pc.not_equal(text, ""), False)
    number = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    kept = pc.if_else(pc.and_(given, number), text, pa.scalar(None, pa.string()))
    return kept.cast(pa.float64()), _problem_where(pc.and_(given, pc.invert(number)), "rating is not a number")


def _conform_time(column: pa.Array, target: pa.DataType, name: str) -> tuple[pa.Array, pa.Array]:
    """Any unit, naive (read as UTC) or zoned, to whole seconds in UTC; sub-seconds are
    dropped, and a time outside years 1-9999 becomes null with a reason."""
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), target), pa.nulls(len(column), pa.string())
    seconds = pc.divide(pc.cast(column, pa.int64()), _UNITS_PER_SECOND[column.type.unit])
    low, high = TIME_RANGE_SECONDS
    problems = _problem_where(pc.or_(pc.less(seconds, low), pc.greater(seconds, high)), f"{name} outside years 1-9999")
    kept = pc.if_else(pc.is_null(problems), column, pa.scalar(None, column.type))
    return pc.cast(kept, target, safe=False), problems


def conform(batch: pa.RecordBatch, source: str) -> tuple[pa.Table, pa.Array]:
    """Cast a validated batch to the canonical schema column by column, adding absent
    optional columns as nulls. Returns the table and a reason per row whose value could
    not be cast (null where fine); a column that cannot be cast at all names the file."""
    table = pa.Table.from_batches([batch])
    columns, problems = {}, [pa.nulls(table.num_rows, pa.string())]
    for canonical in CANONICAL_SCHEMA:
        if canonical.name not in table.column_names:
            columns[canonical.name] = pa.nulls(table.num_rows, canonical.type)
            continue
        column = table.column(canonical.name).combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        try:
            if canonical.name == "rating":
                column, column_problems = _conform_rating(column)
                problems.append(column_problems)
            elif pa.types.is_timestamp(canonical.type):
                column, column_problems = _conform_time(column, canonical.type, canonical.name)
                problems.append(column_problems)
            columns[canonical.name] = column.cast(canonical.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise BatchValidationError(f"{source}: column {canonical.name!r} ({column.type}) cannot be read as {canonical.type}: {exc}") from exc
    return pa.table(columns, schema=CANONICAL_SCHEMA.remove_metadata()), pc.coalesce(*problems)


def raw_rows(batch: pa.RecordBatch) -> list[str]:
    """Rows as read, for quarantine; times as text, since a far-out time has no Python datetime."""
    columns = [pc.cast(c, pa.string()) if pa.types.is_timestamp(c.type) else c for c in batch.columns]
    return [str(row) for row in pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pylist()]


def row_problems(table: pa.Table, cast_problems: pa.Array) -> pa.Array:
    """A reason per row that cannot be scored (null where fine)."""
    no_id = pc.or_(pc.is_null(table.column("review_id")), pc.equal(pc.fill_null(table.column("review_id"), ""), ""))
    empty = pc.and_(pc.equal(pc.fill_null(table.column("title"), ""), ""), pc.equal(pc.fill_null(table.column("text"), ""), ""))
    return pc.coalesce(
        _problem_where(no_id, "missing review_id"),
        _problem_where(empty, "missing text: title and body are empty"),
        cast_problems,
    ).combine_chunks()
