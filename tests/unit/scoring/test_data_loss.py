"""Paths that used to lose live data with exit code 0, and nightly batches whose one bad
value used to fail the whole night (issue 11)."""

from __future__ import annotations

import datetime as dt
import gzip
import posixpath
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.ingest import ingest
from flows.nightly_scoring import nightly_scoring
from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.ingest.pipeline import EmptyIngestRun
from sentiment_model.model.registry import load_classifier
from sentiment_model.scoring.batch import MANIFEST, EmptyRunRefused, MissingInput, list_day_files, read_scored_day, score_day, score_file
from sentiment_model.scoring.config import ScoringConfig
from tests.conftest import canonical_rows, synthetic_reviews

pytestmark = pytest.mark.usefixtures("prefect_harness")
DAY = dt.date(2016, 5, 3)


def manifest_file(tmp_path: Path, uri: str, preset: str) -> str:
    path = tmp_path / f"sources-{Path(uri).name}.toml"
    path.write_text(f'base_uri = "raw"\n[[sources]]\nname = "only"\nuri = "{uri}"\npreset = "{preset}"\n', encoding="utf-8")
    return str(path)


@pytest.fixture
def empty_sources(tmp_path, fixture_copy) -> dict[str, str]:
    """Manifests whose only source yields no canonical row."""
    raw = fixture_copy("aws.tsv").parent
    (raw / "empty.jsonl.gz").write_bytes(b"")  # a 0-byte file named .gz
    (raw / "header_only.tsv").write_text((raw / "aws.tsv").read_text().split("\n")[0] + "\n")
    (raw / "all_bad.jsonl").write_text('{"reviewerID": "A", "asin": "B", "reviewText": "x", "overall": 6, "unixReviewTime": 1}\nnot json\n')
    return {
        "0-byte .jsonl.gz": manifest_file(tmp_path, "empty.jsonl.gz", "mcauley_json"),
        "header-only file": manifest_file(tmp_path, "header_only.tsv", "aws_tsv"),
        "every record quarantined": manifest_file(tmp_path, "all_bad.jsonl", "mcauley_json"),
    }


def test_ingest_with_no_canonical_rows_never_replaces_the_live_snapshot(tmp_path, empty_sources):
    root_dir = tmp_path / "root"
    root = DataRoot(str(root_dir))
    good = ingest(data_root=str(root_dir), sources_manifest=manifest_file(tmp_path, "aws.tsv", "aws_tsv"))
    live = root.read_json(root.canonical_pointer())
    assert live["rows"] == good["totals"]["canonical"] > 0
    for case, manifest in empty_sources.items():
        with pytest.raises(EmptyIngestRun, match=rf"produced no canonical rows .* still names snapshot {live['run_id']}"):
            ingest(data_root=str(root_dir), sources_manifest=manifest)
        assert root.read_json(root.canonical_pointer()) == live, case
        assert root.exists(root.join(live["snapshot"])), case
    # Nothing half-written is left behind: one snapshot, no staging.
    assert [p.name for p in (root_dir / "canonical" / "runs").iterdir()] == [live["run_id"]]
    assert not (root_dir / "_staging").exists() or not any((root_dir / "_staging").iterdir())


def test_ingest_with_no_canonical_rows_on_a_fresh_root_writes_no_pointer(tmp_path, empty_sources):
    for case, manifest in empty_sources.items():
        root = DataRoot(str(tmp_path / f"fresh-{len(case)}"))
        with pytest.raises(EmptyIngestRun, match="no snapshot is live yet"):
            ingest(data_root=root.url, sources_manifest=manifest)
        assert not root.exists(root.canonical_pointer()), case


def test_cli_ingest_with_no_rows_exits_non_zero_with_one_line(tmp_path, empty_sources, monkeypatch, capsys):
    from flows.cli import main

    monkeypatch.setattr("sys.argv", ["sentiment", "ingest", "--data-root", str(tmp_path / "root"), "--manifest", empty_sources["0-byte .jsonl.gz"]])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "produced no canonical rows" in capsys.readouterr().err
    assert not DataRoot(str(tmp_path / "root")).exists(DataRoot(str(tmp_path / "root")).canonical_pointer())


@pytest.fixture
def day_root(tmp_path, tiny_champion_root) -> DataRoot:
    root = DataRoot(str(tmp_path / "root"))
    shutil.copytree(tiny_champion_root.models_dir(), root.models_dir())
    write_incoming_batches(root, canonical_rows(synthetic_reviews(90, seed=41), DAY), rows_per_file=30)
    return root


def test_rescoring_a_day_whose_input_is_gone_keeps_the_published_day(day_root, tmp_path):
    root = day_root
    nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY))
    manifest_path = posixpath.join(root.scored_dir(DAY), MANIFEST)
    published = root.read_json(manifest_path)
    before = read_scored_day(root, DAY).drop_columns(["scored_at"]).sort_by("review_id")
    assert published["rows"] == 90
    shutil.move(root.incoming_dir(DAY), tmp_path / "moved-away")

    state = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY), return_state=True)
    assert state.is_failed()
    with pytest.raises(MissingInput, match=rf"no input for {DAY}: no batch files under .*expect_empty_nights"):
        state.result()
    assert root.read_json(manifest_path) == published
    # Even where quiet nights are expected, an empty run does not replace a day with reviews.
    state = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY, expect_empty_nights=True), return_state=True)
    assert state.is_failed()
    with pytest.raises(EmptyRunRefused, match=rf"{DAY}: this run scored no reviews \(no batch files .*published run {published['run_id']} with 90 reviews is kept.*--allow-empty"):
        state.result()
    assert root.read_json(manifest_path) == published
    assert read_scored_day(root, DAY).drop_columns(["scored_at"]).sort_by("review_id").equals(before)

    # Asked explicitly: the day is replaced by an empty one.
    outcome = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY, allow_empty=True, expect_empty_nights=True))
    assert outcome["days"][DAY.isoformat()]["scored"] == 0
    assert root.read_json(manifest_path)["rows"] == 0


def test_duplicate_review_ids_in_one_day_are_published_once(day_root):
    root = day_root
    files = list_day_files(root, DAY)
    first, second = pq.read_table(files[0]), pq.read_table(files[1])
    # Within a file: the first file repeats its own first 5 rows; across files: the second
    # file repeats 7 rows of the first, with other text (the first copy wins).
    pq.write_table(pa.concat_tables([first, first.slice(0, 5)]), files[0])
    repeated = first.slice(10, 7).set_column(first.schema.get_field_index("text"), "text", pa.array(["a later copy"] * 7))
    pq.write_table(pa.concat_tables([second, repeated]), files[1])

    manifest = score_day(root, load_classifier(root, "champion"), DAY, new_run_id())
    assert (manifest["rows"], manifest["duplicates"], manifest["quarantined"]) == (90, 12, 0)
    scored = read_scored_day(root, DAY)
    ids = scored.column("review_id").to_pylist()
    assert len(ids) == len(set(ids)) == 90
    assert set(ids) == set(first.column("review_id").to_pylist()) | set(second.column("review_id").to_pylist()) | set(pq.read_table(files[2]).column("review_id").to_pylist())
    rescored = score_day(root, load_classifier(root, "champion"), DAY, new_run_id())
    assert (rescored["rows"], rescored["duplicates"]) == (90, 12)  # counts do not drift on a rerun


def pandas_batch(n: int = 6) -> pd.DataFrame:
    """A nightly batch as pandas writes it: int64 stars, naive microsecond timestamps."""
    reviews = synthetic_reviews(n, seed=43)
    return pd.DataFrame(
        {
            "review_id": reviews.column("review_id").to_pylist(),
            "product_id": ["P1"] * n,
            "title": reviews.column("title").to_pylist(),
            "text": reviews.column("text").to_pylist(),
            "rating": np.array(reviews.column("rating").to_pylist(), dtype=np.int64),
            "review_time": pd.to_datetime([f"2016-05-03 10:00:0{i}.{i * 137:06d}" for i in range(n)]),
        }
    )


def test_one_bad_value_in_a_pandas_batch_is_one_quarantined_row(tiny_champion_root, tmp_path):
    classifier = load_classifier(tiny_champion_root, "champion")
    root = DataRoot(str(tmp_path / "root"))
    frame = pandas_batch()
    frame.loc[2, "rating"] = 300
    path = tmp_path / "pandas.parquet"
    frame.to_parquet(path)  # rating int64, review_time timestamp[us] naive, sub-second values
    result = score_file(root, classifier, str(path), DAY, "r1", 0, dt.datetime.now(dt.UTC))
    assert (result.rows_read, result.scored, result.quarantined) == (6, 5, 1)
    assert result.quarantine_reasons == {"rating outside 1-5": 1}
    quarantined = pq.read_table(posixpath.join(root.scored_dir(DAY), "quarantine-run=r1", "part-00000.parquet"))
    assert "'rating': 300" in quarantined.column("raw")[0].as_py()  # the value as it was read
    scored = pq.read_table(result.part)
    assert set(scored.column("review_date").to_pylist()) == {DAY}


def test_ratings_with_gaps_and_far_out_times_are_quarantined_per_row(tiny_champion_root, tmp_path):
    classifier = load_classifier(tiny_champion_root, "champion")
    root = DataRoot(str(tmp_path / "root"))
    frame = pandas_batch(6)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    rating = pa.array([5.0, None, 3.5, float("nan"), 2.0, float("inf")])  # pandas: int column with gaps -> float64
    times = pa.array([0, 10**18, -(10**18), 1_462_269_600_123_456_000, 5_000, 6_000], pa.timestamp("ns", tz="America/New_York"))
    table = table.set_column(table.schema.get_field_index("rating"), "rating", rating)
    table = table.set_column(table.schema.get_field_index("review_time"), "review_time", times.cast(pa.timestamp("us", tz="UTC")))
    path = tmp_path / "gaps.parquet"
    pq.write_table(table, path)
    result = score_file(root, classifier, str(path), DAY, "r2", 0, dt.datetime.now(dt.UTC))
    assert (result.rows_read, result.scored, result.quarantined) == (6, 4, 2)
    assert result.quarantine_reasons == {"rating is not a whole star": 1, "rating outside 1-5": 1}  # 3.5; inf
    far = pa.array([0, 10**17, 1_462_269_600_000, 2**62, -(2**62), 7], pa.timestamp("ms"))  # epoch ms
    pq.write_table(table.set_column(table.schema.get_field_index("review_time"), "review_time", far).drop_columns(["rating"]), path)
    result = score_file(root, classifier, str(path), DAY, "r3", 0, dt.datetime.now(dt.UTC))
    assert (result.scored, result.quarantined) == (3, 3)
    assert result.quarantine_reasons == {"review_time outside years 1-9999": 3}


def test_unreadable_column_names_the_file_and_column(tiny_champion_root, tmp_path):
    from sentiment_model.scoring.batch import BatchValidationError

    classifier = load_classifier(tiny_champion_root, "champion")
    table = pa.Table.from_pandas(pandas_batch(), preserve_index=False)
    table = table.set_column(table.schema.get_field_index("review_time"), "review_time", pa.array(["2015-08-31"] * table.num_rows))
    path = tmp_path / "strings.parquet"
    pq.write_table(table, path)
    with pytest.raises(BatchValidationError, match=r"strings\.parquet: column 'review_time' has type string"):
        score_file(DataRoot(str(tmp_path / "root")), classifier, str(path), DAY, "r4", 0, dt.datetime.now(dt.UTC))
    gz = tmp_path / "gz.parquet"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(BatchValidationError, match=r"gz\.parquet: not a readable Parquet file"):
        score_file(DataRoot(str(tmp_path / "root")), classifier, str(gz), DAY, "r4", 0, dt.datetime.now(dt.UTC))
