"""Nightly scoring and reports on a tiny champion and synthetic nightly batches."""

from __future__ import annotations

import datetime as dt
import posixpath

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.nightly_scoring import nightly_scoring
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import SCORED_SCHEMA
from sentiment_model.model.registry import load_classifier
from sentiment_model.scoring.batch import MANIFEST, BatchValidationError, list_day_files, read_scored_day, score_file
from sentiment_model.scoring.config import ScoringConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")
DAY = dt.date(2015, 8, 31)


def scored_rows(root: DataRoot, day: dt.date) -> pa.Table:
    return read_scored_day(root, day).drop_columns(["scored_at"]).sort_by("review_id")


def test_scores_a_day_writes_report_and_is_idempotent(tiny_champion_root):
    root = tiny_champion_root
    outcome = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY))
    assert outcome["days"][DAY.isoformat()]["scored"] == 300
    first = scored_rows(root, DAY)
    assert first.num_rows == 300 and len(set(first.column("review_id").to_pylist())) == 300
    assert read_scored_day(root, DAY).schema.equals(SCORED_SCHEMA)
    assert set(first.column("predicted_label").to_pylist()) <= {"negative", "neutral", "positive"}
    assert any(first.column("top_tokens").to_pylist())
    report_dir = root.reports_dir(DAY)
    for name in ("report.html", "report.md", "summary.json", "class_distribution.png", "sentiment_trend.png", "confidence_histogram.png", "live_confusion_matrix.png"):
        assert root.exists(posixpath.join(report_dir, name)), name
    html = root.fs.cat_file(posixpath.join(report_dir, "report.html")).decode()
    assert html.count("data:image/png;base64,") >= 4
    summary = root.read_json(posixpath.join(report_dir, "summary.json"))
    assert summary["reviews"] == 300 and summary["live_quality"]["rated_reviews"] == 300
    assert 0.5 < summary["live_quality"]["macro_f1"] <= 1.0
    assert summary["drift"]["class_shares"]["training"]["psi"] >= 0

    nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY))
    assert scored_rows(root, DAY).equals(first)  # same rows, byte for byte, but scored_at
    runs = [p for p in root.fs.ls(root.scored_dir(DAY), detail=False) if "run=" in p]
    assert len(runs) == 1  # the older run's folder was removed after the swap


def test_interrupted_run_leaves_previous_output_and_rerun_scores_each_review_once(tiny_champion_root):
    root = tiny_champion_root
    day = dt.date(2015, 8, 30)
    nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=day))
    before = scored_rows(root, day)
    # A run that wrote one part and died before publishing: the manifest still names the old run.
    classifier = load_classifier(root, "champion")
    score_file(root, classifier, list_day_files(root, day)[0], day, "20000101T000000Z-dead00", 0, dt.datetime.now(dt.UTC))
    assert scored_rows(root, day).equals(before)
    nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=day))
    after = scored_rows(root, day)
    assert after.num_rows == 400 and len(set(after.column("review_id").to_pylist())) == 400
    assert not any("dead00" in p for p in root.fs.ls(root.scored_dir(day), detail=False))


def test_empty_day_gives_a_clear_report(tiny_champion_root):
    root = tiny_champion_root
    day = dt.date(2015, 9, 1)
    outcome = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=day))
    assert outcome["days"][day.isoformat()]["scored"] == 0
    summary = root.read_json(posixpath.join(root.reports_dir(day), "summary.json"))
    assert summary["message"] == f"no reviews for {day.isoformat()}"
    assert root.read_json(posixpath.join(root.scored_dir(day), MANIFEST))["rows"] == 0


def test_batch_with_missing_column_or_wrong_type_names_file_and_column(tiny_champion_root, tmp_path):
    root = tiny_champion_root
    classifier = load_classifier(root, "champion")
    good = pq.read_table(list_day_files(root, DAY)[0])
    cases = {
        "missing.parquet": (good.drop_columns(["text"]), r"missing\.parquet: missing column 'text'"),
        "wrongtype.parquet": (good.set_column(good.schema.get_field_index("title"), "title", pa.array(range(good.num_rows))), r"wrongtype\.parquet: column 'title' has type int64"),
    }
    for name, (table, pattern) in cases.items():
        path = tmp_path / name
        pq.write_table(table, path)
        with pytest.raises(BatchValidationError, match=pattern):
            score_file(DataRoot(str(tmp_path)), classifier, str(path), DAY, "r1", 0, dt.datetime.now(dt.UTC))
    not_parquet = tmp_path / "notparquet.parquet"
    not_parquet.write_text("review_id,text\n1,hello\n")
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    for path in (not_parquet, empty):
        with pytest.raises(BatchValidationError, match=rf"{path.name}: not a readable Parquet file"):
            score_file(DataRoot(str(tmp_path)), classifier, str(path), DAY, "r1", 0, dt.datetime.now(dt.UTC))


def test_bad_rows_are_quarantined_with_a_reason(tiny_champion_root, tmp_path):
    root = DataRoot(str(tmp_path / "root"))
    classifier = load_classifier(tiny_champion_root, "champion")
    table = pq.read_table(list_day_files(tiny_champion_root, DAY)[0]).slice(0, 5)
    table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(["", "fine", "ok", "good", "bad"]))
    table = table.set_column(table.schema.get_field_index("title"), "title", pa.array(["", "a", "b", "c", "d"]))
    path = tmp_path / "day.parquet"
    pq.write_table(table, path)
    result = score_file(root, classifier, str(path), DAY, "r1", 0, dt.datetime.now(dt.UTC))
    assert (result.rows_read, result.scored, result.quarantined) == (5, 4, 1)
    assert result.quarantine_reasons == {"missing text: title and body are empty": 1}


def test_scoring_fans_out_on_a_local_dask_cluster(tiny_champion_root):
    distributed = pytest.importorskip("distributed")
    root = tiny_champion_root
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        outcome = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY, dask_address=cluster.scheduler_address))
    assert outcome["days"][DAY.isoformat()]["scored"] == 300
    assert scored_rows(root, DAY).num_rows == 300


def test_scoring_config_lists_the_days_and_refuses_a_backwards_range():
    yesterday = dt.date(2015, 9, 1)
    assert ScoringConfig().days(yesterday) == [yesterday]
    assert ScoringConfig(run_date=DAY, end_date=dt.date(2015, 9, 2)).days(yesterday) == [DAY, dt.date(2015, 9, 1), dt.date(2015, 9, 2)]
    with pytest.raises(ValueError, match="end_date 2015-08-30 is before run_date 2015-08-31"):
        ScoringConfig(run_date=DAY, end_date=dt.date(2015, 8, 30))
    with pytest.raises(ValueError, match="is before run_date 2015-09-01"):
        ScoringConfig(end_date=DAY).days(yesterday)  # run_date defaults to yesterday, after end_date
    with pytest.raises(ValueError, match="extra"):
        ScoringConfig(rundate=DAY)  # a misspelt option is an error, not ignored


def test_the_nightly_flow_takes_one_scoring_config_rendered_as_a_form():
    schema = nightly_scoring.parameters.model_dump()
    assert set(schema["properties"]) == {"data_root", "config"}
    definitions = schema["definitions"]
    assert {"run_date", "end_date", "model_version", "dask_address", "max_workers", "allow_empty", "report"} <= set(definitions["ScoringConfig"]["properties"])
    assert "window_days" in definitions["ReportOptions"]["properties"]
