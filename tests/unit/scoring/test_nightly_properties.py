"""Property: any nightly batch (random column types, value ranges, nulls, duplicate ids,
one or more files) is scored so that every input row is scored exactly once, counted as
a duplicate of an earlier copy, or quarantined with a reason, and the published day
names only files that exist. A file whose column type cannot hold the canonical value at
all fails alone, with a message naming the file and the column."""

from __future__ import annotations

import datetime as dt
import posixpath
import shutil
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.model.registry import load_classifier
from sentiment_model.scoring.batch import BatchValidationError, publish_day, read_scored_day, score_file

DAY = dt.date(2016, 6, 1)
NIGHTLY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

ids = st.one_of(st.none(), st.just(""), st.sampled_from([f"{i:032x}" for i in range(12)]))  # few ids: many duplicates
texts = st.one_of(st.none(), st.just(""), st.just("   "), st.sampled_from(["great kettle", "awful", "so so", "love it \U0001f600"]), st.text(max_size=30))
whole = st.integers(min_value=-(2**63), max_value=2**63 - 1)
ratings = st.one_of(
    st.tuples(st.just(pa.int64()), st.lists(st.one_of(st.none(), st.integers(-3, 9), whole))),
    st.tuples(st.sampled_from([pa.int8(), pa.int16(), pa.uint8()]), st.lists(st.one_of(st.none(), st.integers(0, 9)))),
    st.tuples(st.just(pa.float64()), st.lists(st.one_of(st.none(), st.floats(allow_nan=True), st.sampled_from([1.0, 4.0, 5.0, 2.5])))),
    st.tuples(st.just(pa.null()), st.lists(st.none())),
    st.tuples(st.just(pa.string()), st.lists(st.one_of(st.none(), st.sampled_from(["5", " 4 ", "3.0", "2.5", "x", "", "9"])))),  # cast per row
    st.tuples(st.just(pa.binary()), st.lists(st.just(b"5"))),  # cannot hold stars: the file fails, named
)
time_types = st.sampled_from([pa.timestamp(u, tz=tz) for u in ("s", "ms", "us", "ns") for tz in (None, "UTC", "Asia/Tokyo")])
times = st.one_of(st.none(), st.integers(-(2**62), 2**62), st.integers(0, 2 * 10**9))


@st.composite
def batch_file(draw: st.DrawFn) -> pa.Table:
    rating_type, rating_values = draw(ratings)
    n = draw(st.integers(min_value=0, max_value=12))
    rating_values = (rating_values + [None] * n)[:n]
    time_type = draw(time_types)
    columns = {
        "review_id": pa.array(draw(st.lists(ids, min_size=n, max_size=n)), draw(st.sampled_from([pa.string(), pa.large_string()]))),
        "product_id": pa.array(draw(st.lists(st.one_of(st.none(), st.just("P1")), min_size=n, max_size=n)), pa.string()),
        "title": pa.array(draw(st.lists(texts, min_size=n, max_size=n)), pa.string()),
        "text": pa.array(draw(st.lists(texts, min_size=n, max_size=n)), draw(st.sampled_from([pa.string(), pa.large_string(), pa.dictionary(pa.int32(), pa.string())]))),
    }
    if draw(st.booleans()):
        columns["rating"] = pa.array(rating_values, rating_type)
    if draw(st.booleans()):
        raw = draw(st.lists(times, min_size=n, max_size=n))
        unit_limit = {"s": 2**62 // 10**3, "ms": 2**62, "us": 2**62, "ns": 2**62}[time_type.unit]  # Parquet stores s as ms
        columns["review_time"] = pa.array([None if v is None else max(-unit_limit, min(v, unit_limit)) for v in raw], pa.int64()).cast(time_type)
    return pa.table(columns)


@pytest.fixture(scope="module")
def classifier(tiny_champion_root):
    return load_classifier(tiny_champion_root, "champion")


@NIGHTLY
@given(st.lists(batch_file(), min_size=1, max_size=3))
def test_every_row_is_scored_once_or_counted_or_quarantined(classifier, tmp_path, batches):
    root = DataRoot(str(tmp_path / f"root-{uuid.uuid4().hex[:8]}"))
    run_id = new_run_id()
    scored_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    results, failed, expected_ids = [], 0, []
    for index, table in enumerate(batches):
        path = posixpath.join(root.incoming_dir(DAY), f"part-{index:05d}.parquet")
        root.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        pq.write_table(table, path)
        try:
            result = score_file(root, classifier, path, DAY, run_id, index, scored_at)
        except BatchValidationError as exc:
            # Only a column whose type cannot hold the value fails a file, and it says which.
            assert f"part-{index:05d}.parquet: column 'rating' has type binary" in str(exc)
            failed += 1
            continue
        assert result.rows_read == table.num_rows
        assert result.scored + result.quarantined == table.num_rows
        assert sum(result.quarantine_reasons.values()) == result.quarantined and all(result.quarantine_reasons)
        results.append(result)
        expected_ids += [i for i in table.column("review_id").to_pylist() if i]
    manifest = publish_day(root, DAY, run_id, results, "tiny")

    folder = root.scored_dir(DAY)
    for name in manifest["files"]:
        assert root.exists(posixpath.join(folder, name)), f"manifest names a missing file {name}"
    scored = read_scored_day(root, DAY)
    published = scored.column("review_id").to_pylist()
    assert len(published) == len(set(published)) == manifest["rows"]  # each review once
    read = sum(r.rows_read for r in results)
    assert read == manifest["rows"] + manifest["duplicates"] + manifest["quarantined"]
    quarantined = [pq.read_table(p) for p in root.fs.glob(posixpath.join(folder, "quarantine-run=*", "*.parquet"))]
    assert sum(t.num_rows for t in quarantined) == manifest["quarantined"]
    assert all(r for t in quarantined for r in t.column("quarantine_reason").to_pylist())
    assert set(published) <= set(expected_ids)
    assert set(scored.column("predicted_label").to_pylist()) <= {"negative", "neutral", "positive", "empty_text"}  # empty_text: no token to predict from
    shutil.rmtree(root.path)
