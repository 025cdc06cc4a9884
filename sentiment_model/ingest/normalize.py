"""Raw string columns -> canonical rows, vectorized with pyarrow compute.

Each rule that can reject a record yields a reason per row (null when the row passes);
the first reason wins, so a quarantine row always says the first thing that was wrong.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sentiment_model.core.schema import MAX_TEXT_CHARS, STAGED_SCHEMA
from sentiment_model.ingest.chunks import RECORD_NUMBER, Rejected
from sentiment_model.ingest.sources import SourceSpec

_RATING_PATTERN = r"^(?P<value>[0-9]+(?:\.[0-9]+)?)(?:\s*(?:/|out of)\s*5(?:\.0)?(?:\s+stars?)?)?$"
_MISSING_TOKENS = ["", "na", "n/a", "nan", "null", "none"]
KEY_SEPARATOR = "\x1f"


def _null_strings(n: int) -> pa.Array:
    return pa.nulls(n, type=pa.string())


def _column(raw: pa.Table, name: str | None) -> pa.Array:
    if name is None:
        return _null_strings(raw.num_rows)
    return raw.column(name).combine_chunks()


def _reason_where(mask: pa.Array, reason: str | pa.Array) -> pa.Array:
    """``reason`` where ``mask`` is true, else null."""
    mask = pc.fill_null(mask, False)
    return pc.if_else(mask, reason, pa.scalar(None, pa.string()))


def parse_rating(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Parse star ratings such as "5", "4.0", 3.0, "3.0 out of 5 stars" into int8 1..5.

    Returns ``(rating, reason)``; reason is null where the rating is valid.
    """
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    lowered = pc.utf8_lower(text)
    missing = pc.or_(pc.is_null(text), pc.is_in(lowered, value_set=pa.array(_MISSING_TOKENS)))
    number = pc.struct_field(pc.extract_regex(lowered, _RATING_PATTERN), "value")
    unparsed = pc.and_(pc.invert(missing), pc.is_null(number))
    value = pc.cast(number, pa.float64())
    whole = pc.equal(pc.floor(value), value)
    in_range = pc.and_(pc.greater_equal(value, 1.0), pc.less_equal(value, 5.0))
    quoted = pc.binary_join_element_wise("'", pc.utf8_slice_codeunits(text, 0, 40), "'", "")
    reason = pc.coalesce(
        _reason_where(missing, "rating missing"),
        _reason_where(unparsed, pc.binary_join_element_wise("rating is not a number: ", quoted, "")),
        _reason_where(pc.invert(in_range), pc.binary_join_element_wise("rating outside 1-5: ", quoted, "")),
        _reason_where(pc.invert(whole), pc.binary_join_element_wise("rating is not a whole star: ", quoted, "")),
    )
    ok = pc.is_null(reason)
    rating = pc.if_else(ok, pc.cast(pc.if_else(ok, value, 0.0), pa.int8()), pa.scalar(None, pa.int8()))
    return rating, reason


#: Review times outside [EARLIEST_REVIEW_TIME, ingest time + LATEST_REVIEW_SLACK] are
#: quarantined: Amazon reviews start in the 1990s, and a time in the future is a wrong unit
#: or a wrong clock. The ranges of the four epoch units do not overlap inside this window,
#: so an epoch value's unit (s, ms, us, ns) is told by its magnitude.
EARLIEST_REVIEW_TIME = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
LATEST_REVIEW_SLACK = dt.timedelta(days=1)
_EPOCH_UNITS = (("s", 1.0), ("ms", 1e3), ("us", 1e6), ("ns", 1e9))


def _epoch_seconds(number: pa.Array, low: float, high: float) -> pa.Array:
    """Seconds since the epoch for numbers in any epoch unit; null where no unit puts
    the value inside [low, high]."""
    seconds = pa.nulls(len(number), pa.float64())
    for _, per_second in _EPOCH_UNITS:
        candidate = pc.divide(number, per_second)
        fits = pc.and_(pc.greater_equal(candidate, low), pc.less_equal(candidate, high))
        seconds = pc.if_else(pc.and_(pc.is_null(seconds), pc.fill_null(fits, False)), candidate, seconds)
    return seconds


#: What each strptime directive matches, to find a text date's day, month and year (the
#: three named groups) beside Arrow's parse: Arrow rolls an impossible day over into the
#: next month (2015-02-30 is read as 2015-03-02), so the calendar is checked on the text.
_DIRECTIVE_PATTERNS = {
    "d": r"\s*(?P<day>\d{1,2})",
    "e": r"\s*(?P<day>\d{1,2})",
    "m": r"\s*(?P<month>\d{1,2})",
    "b": r"(?P<month_name>[A-Za-z]+)",
    "B": r"(?P<month_name>[A-Za-z]+)",
    "h": r"(?P<month_name>[A-Za-z]+)",
    "Y": r"(?P<year>[+-]?\d{1,5})",
    "y": r"(?P<short_year>\d{1,2})",
    "H": r"\s*\d{1,2}",
    "I": r"\s*\d{1,2}",
    "M": r"\s*\d{1,2}",
    "S": r"\s*\d{1,2}",
    "j": r"\s*\d{1,3}",
    "a": r"[A-Za-z]+",
    "A": r"[A-Za-z]+",
    "p": r"[A-Za-z]+",
    "z": r"(?:[+-]\d{2}:?\d{2}|Z)",
    "Z": r"[A-Za-z]+",
    "%": "%",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def _date_fields_pattern(time_format: str) -> str | None:
    """A regex with the groups ``day``, ``month`` or ``month_name``, and optionally
    ``year``/``short_year``, for ``time_format``; None when the format has no day and
    month, or a directive whose text is not known here (then the calendar is not checked)."""
    pattern, i = ["^"], 0
    while i < len(time_format):
        char = time_format[i]
        if char == "%":
            directive = time_format[i + 1 : i + 2]
            if directive not in _DIRECTIVE_PATTERNS:
                return None
            group = _DIRECTIVE_PATTERNS[directive]
            name = group.partition("(?P<")[2].partition(">")[0]
            if name and f"(?P<{name}>" in "".join(pattern):
                group = group.replace(f"?P<{name}>", "?:")  # a field given twice: check the first
            pattern.append(group)
            i += 2
        else:
            pattern.append(r"\s*" if char.isspace() else re.escape(char))
            i += 1
    regex = "".join(pattern)
    has_month = "(?P<month>" in regex or "(?P<month_name>" in regex
    return regex if "(?P<day>" in regex and has_month else None


def impossible_dates(text: pa.Array, time_format: str) -> pa.Array:
    """True where the text names a day its month does not have (2015-02-30, Apr 31,
    Feb 29 of a year that is not a leap year); false where it is fine or not checked."""
    pattern = _date_fields_pattern(time_format)
    if pattern is None:
        return pa.array([False] * len(text))
    fields = pc.extract_regex(text, pattern)
    names = {field.name for field in fields.type}
    day = pc.cast(pc.struct_field(fields, "day"), pa.int64())
    if "month" in names:
        month = pc.cast(pc.struct_field(fields, "month"), pa.int64())
    else:
        month = pc.add(pc.index_in(pc.utf8_slice_codeunits(pc.utf8_lower(pc.struct_field(fields, "month_name")), 0, 3), value_set=pa.array(_MONTHS)), 1)
    if "year" in names:
        year = pc.cast(pc.struct_field(fields, "year"), pa.int64())
    elif "short_year" in names:  # as strptime reads %y: 69-99 are 1900s, 00-68 2000s
        short = pc.cast(pc.struct_field(fields, "short_year"), pa.int64())
        year = pc.add(short, pc.if_else(pc.less(short, 69), 2000, 1900))
    else:
        year = pa.array([2000] * len(text), pa.int64())  # no year: Feb 29 may exist
    known_month = pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12))
    index = pc.if_else(pc.fill_null(known_month, False), pc.subtract(month, 1), 0)
    leap = pc.and_(pc.equal(pc.bit_wise_and(year, 3), 0), pc.or_(pc.not_equal(pc.remainder(year, 100), 0), pc.equal(pc.remainder(year, 400), 0)))
    leap_day = pc.cast(pc.and_(pc.equal(month, 2), leap), pa.int64())
    days = pc.add(pc.take(pa.array(_DAYS_IN_MONTH, pa.int64()), index), pc.fill_null(leap_day, 0))
    return pc.fill_null(pc.and_(known_month, pc.greater(day, days)), False)


def parse_review_time(values: pa.Array, time_format: str | None, now: dt.datetime | None = None) -> tuple[pa.Array, pa.Array]:
    """Parse review times to UTC seconds. Empty values give a null time (not a rejection);
    a value that is present but unparseable, or outside the accepted range (1990-01-01
    to ``now`` + 1 day), gives a reason."""
    target = pa.timestamp("s", tz="UTC")
    n = len(values)
    if time_format is None:
        return pa.nulls(n, type=target), _null_strings(n)
    latest = (now or dt.datetime.now(dt.UTC)) + LATEST_REVIEW_SLACK
    low, high = EARLIEST_REVIEW_TIME.timestamp(), latest.timestamp()
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    present = pc.and_(pc.is_valid(text), pc.not_equal(text, ""))
    quoted = pc.binary_join_element_wise("'", pc.utf8_slice_codeunits(text, 0, 40), "'", "")
    out_of_range = f"review_time outside {EARLIEST_REVIEW_TIME:%Y-%m-%d} .. {latest:%Y-%m-%d}"
    if time_format in ("unix_s", "unix_ms"):
        usable = pc.and_(present, pc.match_substring_regex(text, r"^-?[0-9]{1,30}(?:\.[0-9]+)?$"))
        number = pc.cast(pc.if_else(usable, text, "0"), pa.float64())
        seconds = _epoch_seconds(number, low, high)
        whole = pc.cast(pc.floor(pc.fill_null(seconds, 0.0)), pa.int64())
        parsed = pc.if_else(pc.is_valid(seconds), pc.cast(whole, target), pa.scalar(None, target))
        unparsed = pc.and_(present, pc.invert(usable))
        outside = pc.and_(usable, pc.is_null(seconds))
        impossible = pa.array([False] * n)
        out_of_range += " (epoch s, ms, us or ns)"
    else:
        pattern, fields = (time_format, text) if time_format != "iso8601" else ("%Y-%m-%dT%H:%M:%S", pc.utf8_slice_codeunits(text, 0, 19))
        parsed = pc.strptime(fields, format=pattern, unit="s", error_is_null=True)
        impossible = pc.and_(pc.is_valid(parsed), impossible_dates(fields, pattern))
        parsed = pc.if_else(impossible, pa.scalar(None, parsed.type), parsed)
        parsed = pc.assume_timezone(parsed, "UTC") if parsed.type.tz is None else parsed
        parsed = parsed.cast(target)
        epoch = pc.cast(pc.cast(parsed, pa.int64()), pa.float64())
        inside = pc.and_(pc.greater_equal(epoch, low), pc.less_equal(epoch, high))
        unparsed = pc.and_(pc.and_(present, pc.is_null(parsed)), pc.invert(impossible))
        outside = pc.and_(pc.is_valid(parsed), pc.invert(inside))
        parsed = pc.if_else(outside, pa.scalar(None, target), parsed)
    reason = pc.coalesce(
        _reason_where(impossible, pc.binary_join_element_wise("review_time is not a date on the calendar: ", quoted, "")),
        _reason_where(unparsed, pc.binary_join_element_wise(f"review_time does not match {time_format}: ", quoted, "")),
        _reason_where(outside, pc.binary_join_element_wise(f"{out_of_range}: ", quoted, "")),
    )
    return parsed, reason


def clean_text(values: pa.Array) -> pa.Array:
    """Trim, map null to empty, and cap runaway lengths."""
    text = pc.fill_null(pc.utf8_trim_whitespace(values.cast(pa.string())), "")
    return pc.utf8_slice_codeunits(text, 0, MAX_TEXT_CHARS)


def dedup_keys(raw: pa.Table, spec: SourceSpec) -> pa.Array:
    """The string each record's identity is hashed from: namespace + dedup fields."""
    names = spec.dedup_fields if spec.dedup_fields != "*" else [n for n in raw.column_names if n != RECORD_NUMBER and n not in spec.dedup_exclude]
    parts = []
    for name in names:
        column = pc.fill_null(_column(raw, name).cast(pa.string()), "")
        if spec.dedup_normalize == "lower_alnum":
            column = pc.utf8_lower(column)
            column = pc.replace_substring_regex(column, r"[^\p{L}\p{N}\s]+", "")
            column = pc.utf8_trim_whitespace(pc.replace_substring_regex(column, r"\s+", " "))
        parts.append(column)
    namespace = pa.array([spec.dedup_namespace] * raw.num_rows, type=pa.string())
    return pc.binary_join_element_wise(namespace, *parts, KEY_SEPARATOR)


def content_keys(rating: pa.Array, body: pa.Array) -> pa.Array:
    """What must agree for two records with one review_id to be true duplicates: the
    rating and the body (lower-cased; the caller passes an already-normalized body for
    sources whose dedup key normalizes text). Titles are left out: the dumps hold
    re-edited summaries of one review, which are still one review."""
    return pc.binary_join_element_wise(pc.fill_null(rating.cast(pa.string()), ""), pc.utf8_lower(body), KEY_SEPARATOR)


_THREAD_LOCAL = threading.local()


def _hashing_connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB connection: opening one costs ~20 ms, as much as
    hashing a 16K-row chunk, so it is opened once per thread (and process), not per chunk."""
    local = _THREAD_LOCAL
    if getattr(local, "pid", None) != os.getpid():
        local.con, local.pid = duckdb.connect(), os.getpid()
    return local.con


def md5_hex(*columns: pa.Array) -> list[pa.Array]:
    """md5 hex of each string, per column, vectorized in DuckDB."""
    if len(columns[0]) == 0:
        return [pa.array([], type=pa.string()) for _ in columns]
    names = [f"c{i}" for i in range(len(columns))]
    con = _hashing_connection()
    con.register("hash_input", pa.table(dict(zip(names, columns, strict=True))))
    try:
        result = con.sql("SELECT " + ", ".join(f"md5({n}) AS {n}" for n in names) + " FROM hash_input").to_arrow_table()
    finally:
        con.unregister("hash_input")
    return [result.column(n).combine_chunks().cast(pa.string()) for n in names]


def review_ids(keys: pa.Array) -> pa.Array:
    """md5 hex of each dedup key: a stable 128-bit review_id."""
    return md5_hex(keys)[0]


def normalize_chunk(raw: pa.Table, spec: SourceSpec, source: str, ingested_at: dt.datetime) -> tuple[pa.Table, list[Rejected]]:
    """Map a raw chunk to staged rows (canonical + content_hash); return ``(rows, rejected)``."""
    n = raw.num_rows
    if n == 0:
        return STAGED_SCHEMA.empty_table(), []
    rating, rating_reason = parse_rating(_column(raw, spec.columns.rating))
    review_time, time_reason = parse_review_time(_column(raw, spec.columns.review_time), spec.time_format, ingested_at)
    title = clean_text(_column(raw, spec.columns.title))
    text = clean_text(_column(raw, spec.columns.text))
    no_text = pc.and_(pc.equal(title, ""), pc.equal(text, ""))
    reason = pc.coalesce(rating_reason, _reason_where(no_text, "missing text: title and body are empty"), time_reason)
    ok = pc.is_null(reason)
    keys = dedup_keys(raw, spec)
    body = keys if spec.dedup_normalize != "none" else text
    ids, content = md5_hex(keys, content_keys(rating, body))
    table = pa.table(
        {
            "review_id": ids,
            "product_id": pc.utf8_trim_whitespace(_column(raw, spec.columns.product_id).cast(pa.string())),
            "reviewer_id": pc.utf8_trim_whitespace(_column(raw, spec.columns.reviewer_id).cast(pa.string())),
            "rating": rating,
            "title": title,
            "text": text,
            "review_time": review_time,
            "source": pa.array([source] * n, type=pa.string()),
            "ingested_at": pa.array([ingested_at] * n, type=pa.timestamp("s", tz="UTC")),
            "content_hash": content,
        },
        schema=STAGED_SCHEMA,
    )
    rejected: list[Rejected] = []
    if not pc.all(ok).as_py():
        bad = pc.indices_nonzero(pc.invert(ok))
        bad_raw = raw.take(bad).to_pylist()
        reasons = reason.take(bad).to_pylist()
        for row, why in zip(bad_raw, reasons, strict=True):
            number = row.pop(RECORD_NUMBER, None)
            rejected.append(Rejected(number, orjson.dumps(row).decode(), why))
        table = table.filter(ok)
    return table, rejected
