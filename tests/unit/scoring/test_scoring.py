"""Nightly scoring and reports on a tiny champion and synthetic nightly batches."""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.nightly_scoring import nightly_scoring
from flows.report import report
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import SCORED_SCHEMA
from sentiment_model.model.registry import load_classifier
from sentiment_model.scoring.batch import MANIFEST, BatchValidationError, MissingInput, list_day_files, read_scored_day, score_file
from sentiment_model.scoring.config import ScoringConfig
from tasks.reporting import artifact_key, report_link

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


def _api(path: str, body: dict) -> list[dict]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        response = client._client.post(path, json=body)
        response.raise_for_status()
        return response.json()


def _run_artifacts(flow_run_id) -> list[dict]:
    return _api("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}})


def _latest(key: str) -> dict:
    (latest,) = _api("/artifacts/latest/filter", {"artifacts": {"key": {"any_": [key]}}})
    return latest


def test_a_night_is_named_for_its_date_and_holds_its_report_and_progress_on_its_own_page(tiny_champion_root):
    root = tiny_champion_root
    first = dt.date(2015, 8, 30)
    state = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=first, end_date=DAY), return_state=True)
    assert state.is_completed()
    flow_run_id = state.state_details.flow_run_id
    (run,) = _api("/flow_runs/filter", {"flow_runs": {"id": {"any_": [str(flow_run_id)]}}})
    assert run["name"] == "nightly 2015-08-30..2015-08-31"
    subflows = _api("/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [str(flow_run_id)]}}})
    assert sorted(r["name"] for r in subflows) == ["score 2015-08-30 (3 files)", "score 2015-08-31 (2 files)"]
    assert not any(_run_artifacts(r["id"]) for r in subflows)  # every artifact is on the night's own page
    artifacts = _run_artifacts(flow_run_id)
    progress = sorted((a["description"], a["data"]) for a in artifacts if a["type"] == "progress")
    assert progress == [("scoring 2 files of 2015-08-31", 100.0), ("scoring 3 files of 2015-08-30", 100.0)]
    keys = {a["key"] for a in artifacts}
    expected = {"adhoc-nightly-scoring-report", "adhoc-nightly-scoring-report-html", "adhoc-nightly-scoring-class-distribution", "adhoc-nightly-scoring-negative-products"}
    assert expected <= keys and all(key is None or re.fullmatch(r"[a-z0-9-]+", key) for key in keys)
    links = sorted(a["data"] for a in artifacts if a["key"] == "adhoc-nightly-scoring-report-html")  # a link artifact is markdown
    assert links == [f"[Full HTML report of {day}]({posixpath.join(root.reports_dir(day), 'report.html')})" for day in (first, DAY)]
    assert _latest("adhoc-nightly-scoring-report")["flow_run_id"] == str(flow_run_id)

    # A rebuild by the report flow: its own run, named for the day; its keys never say report twice.
    rebuilt = report(run_date=DAY, data_root=root.url, return_state=True)
    (run,) = _api("/flow_runs/filter", {"flow_runs": {"id": {"any_": [str(rebuilt.state_details.flow_run_id)]}}})
    assert run["name"] == f"report {DAY}"
    keys = {a["key"] for a in _run_artifacts(run["id"])}
    assert {"adhoc-report", "adhoc-report-html", "adhoc-report-class-distribution"} <= keys and not any("report-report" in k for k in keys)


def test_run_names_say_what_each_run_covers(monkeypatch):
    from types import SimpleNamespace

    import flows.nightly_scoring as nightly_module
    import flows.retrain as retrain_module
    from sentiment_model.training.config import RetrainConfig

    def named(module, function, **parameters) -> str:
        monkeypatch.setattr(module, "flow_run", SimpleNamespace(parameters=parameters))
        return function()

    assert named(nightly_module, nightly_module.nightly_run_name, config=ScoringConfig(run_date=DAY)) == f"nightly {DAY}"
    assert named(nightly_module, nightly_module.nightly_run_name, config=ScoringConfig(run_date=dt.date(2015, 8, 25), end_date=DAY)) == f"nightly 2015-08-25..{DAY}"
    monkeypatch.setenv("SENTIMENT_TIMEZONE", "Pacific/Kiritimati")  # UTC+14: its yesterday is not always UTC's
    assert named(nightly_module, nightly_module.nightly_run_name, config=None) == f"nightly {nightly_module.yesterday('Pacific/Kiritimati')}"
    assert named(nightly_module, nightly_module.score_run_name, day=DAY, files=["a"]) == f"score {DAY} (1 file)"
    assert named(nightly_module, nightly_module.score_run_name, day=DAY, files=["a", "b", "c"]) == f"score {DAY} (3 files)"
    today = dt.datetime.now(dt.UTC).date()
    assert (
        named(retrain_module, retrain_module.retrain_run_name, config=RetrainConfig(sample_size=9000, train_before=dt.date(2015, 8, 25)))
        == f"retrain {today} (reviews before 2015-08-25, sample 9,000)"
    )
    assert named(retrain_module, retrain_module.retrain_run_name) == f"retrain {today} (all reviews)"


def test_a_night_without_input_fails_clearly_unless_quiet_nights_are_expected(tiny_champion_root):
    root = tiny_champion_root
    real = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY), return_state=True)
    latest = _latest("adhoc-nightly-scoring-report")
    assert latest["flow_run_id"] == str(real.state_details.flow_run_id)

    # Not expected: the other days run, the night is neither scored nor reported, the run fails saying why.
    quiet = dt.date(2015, 9, 2)
    state = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY, end_date=quiet), return_state=True)
    assert state.is_failed()
    with pytest.raises(MissingInput) as raised:
        state.result()
    folder = root.uri(root.incoming_dir(dt.date(2015, 9, 1)))
    assert str(raised.value).startswith(f"no input for 2015-09-01: no batch files under {folder}; set config.expect_empty_nights if quiet nights are normal no input for 2015-09-02")
    assert state.message and "no input for 2015-09-01" in state.message
    for day in (dt.date(2015, 9, 1), quiet):
        assert not root.exists(root.scored_dir(day)) and not root.exists(root.reports_dir(day))
    assert {a["key"] for a in _run_artifacts(state.state_details.flow_run_id)} >= {"adhoc-nightly-scoring-report"}  # 2015-08-31's
    assert _latest("adhoc-nightly-scoring-report")["description"] == f"Review sentiment {DAY}"

    # Expected: an empty report, on the run's page without a key; the latest report stays the last real one.
    latest = _latest("adhoc-nightly-scoring-report")
    state = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=quiet, expect_empty_nights=True), return_state=True)
    assert state.is_completed()
    summary = root.read_json(posixpath.join(root.reports_dir(quiet), "summary.json"))
    assert summary["reviews"] == 0
    assert root.read_json(posixpath.join(root.scored_dir(quiet), MANIFEST))["rows"] == 0
    artifacts = _run_artifacts(state.state_details.flow_run_id)
    assert [(a["type"], a["key"]) for a in artifacts] == [("markdown", None)]
    assert _latest("adhoc-nightly-scoring-report")["id"] == latest["id"]


def test_bad_parameters_are_refused_by_the_flow_before_it_runs():
    state = nightly_scoring(config={"run_date": "2015-08-31", "end_date": "2015-08-30"}, return_state=True)
    assert state.is_failed() and "end_date 2015-08-30 is before run_date 2015-08-31" in state.message
    state = nightly_scoring(config={"end_date": "2015-08-30"}, return_state=True)
    assert state.is_failed() and "end_date 2015-08-30 needs a run_date" in state.message


def frameworks_loaded_by_importing(modules: str) -> str:
    code = f"import sys, {modules}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {{'tensorflow', 'keras', 'jax', 'torch'}}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[3], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_importing_the_flows_loads_no_deep_learning_framework():
    """Prefect imports a flow's module to validate its parameters and to deploy it: bad
    ones are refused in seconds, not after TensorFlow's ~50 s of loading."""
    assert frameworks_loaded_by_importing("flows.nightly_scoring, flows.report, flows.retrain, flows.ingest") == "[]"


def test_export_checks_its_folder_before_tensorflow_loads():
    """`sentiment export` refuses a bad folder in one line: TensorFlow, once loaded, may
    write start-up notices to stderr that no log level silences (oneDNN's, on AMD EPYC)."""
    assert frameworks_loaded_by_importing("sentiment_model.model.export, sentiment_model.model.registry") == "[]"


def test_artifact_keys_and_report_links():
    assert artifact_key("report", "report") == "report"
    assert artifact_key("report", "class-distribution") == "report-class-distribution"
    assert artifact_key("report", "report-html") == "report-html"
    assert artifact_key("nightly-scoring", "report") == "nightly-scoring-report"
    assert artifact_key("Nightly_Scoring (EU)", "input-health") == "nightly-scoring-eu-input-health"
    assert report_link("gs://bucket/review sentiment/reports/date=2015-08-31/report.html") == "https://storage.cloud.google.com/bucket/review%20sentiment/reports/date%3D2015-08-31/report.html"
    assert report_link("/data/reports/date=2015-08-31/report.html") == "/data/reports/date=2015-08-31/report.html"


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
    with pytest.raises(ValueError, match="end_date 2015-08-31 needs a run_date"):
        ScoringConfig(end_date=DAY)  # the first day of a backfill is never an implicit 'yesterday'
    with pytest.raises(ValueError, match="extra"):
        ScoringConfig(rundate=DAY)  # a misspelt option is an error, not ignored


def test_the_nightly_flow_takes_one_scoring_config_rendered_as_a_form():
    schema = nightly_scoring.parameters.model_dump()
    assert set(schema["properties"]) == {"data_root", "config"}
    definitions = schema["definitions"]
    assert {"run_date", "end_date", "model_version", "dask_address", "max_workers", "allow_empty", "expect_empty_nights", "report"} <= set(definitions["ScoringConfig"]["properties"])
    assert "window_days" in definitions["ReportOptions"]["properties"]
