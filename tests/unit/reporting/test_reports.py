"""The nightly report on a tiny champion: sections, self-contained HTML, the window as a
parameter, unavailable references, classes beyond three, and alerts as Prefect events."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import html.parser
import posixpath
import shutil
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.nightly_scoring import nightly_scoring
from flows.report import report
from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import LABELS, SCORED_SCHEMA, STAR_LABEL_IDS
from sentiment_model.core.settings import ReportOptions, ReportThresholds
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.reporting.context import ModelContext, model_context
from sentiment_model.reporting.reports import build_report
from sentiment_model.scoring.batch import MANIFEST, read_scored_day
from sentiment_model.scoring.config import ScoringConfig
from tests.conftest import canonical_rows, synthetic_reviews

pytestmark = pytest.mark.usefixtures("prefect_harness")
NORMAL_DAYS = [dt.date(2015, 7, 1), dt.date(2015, 7, 2), dt.date(2015, 7, 3)]
DRIFTED = dt.date(2015, 7, 4)
SECTIONS = ("incidents", "monitor", "classes", "drift", "strong", "quality", "input", "text-drift", "explanations", "products", "trend")


def _negative_reviews_of_one_product(n: int, day: dt.date = DRIFTED) -> pa.Table:
    """A drifted day: one product's negative reviews only, about a new topic."""
    reviews = synthetic_reviews(8 * n, seed=21)
    negative = reviews.filter(pa.compute.less_equal(reviews.column("rating"), 2)).slice(0, n)
    rows = canonical_rows(negative, day)
    texts = [f"{t} the battery caught fire recall" for t in rows.column("text").to_pylist()]
    return rows.set_column(rows.schema.get_field_index("text"), "text", pa.array(texts)).set_column(rows.schema.get_field_index("product_id"), "product_id", pa.array(["B00FIRE"] * rows.num_rows))


@pytest.fixture(scope="module")
def drift_root(tmp_path_factory, tiny_champion_root):
    """Three ordinary nights, then a night of one product's negative reviews; scored
    by one backfill run of the nightly flow."""
    root = DataRoot(str(tmp_path_factory.mktemp("drift-root")))
    shutil.copytree(tiny_champion_root.models_dir(), root.models_dir())
    for index, day in enumerate(NORMAL_DAYS):
        write_incoming_batches(root, canonical_rows(synthetic_reviews(200, seed=30 + index), day))
    write_incoming_batches(root, _negative_reviews_of_one_product(150))
    outcome = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=NORMAL_DAYS[0], end_date=DRIFTED, report=ReportOptions(window_days=3)))
    return root, outcome


def _summary(root: DataRoot, day: dt.date) -> dict:
    return root.read_json(posixpath.join(root.reports_dir(day), "summary.json"))


def _server_events(prefix: str) -> list[dict]:
    from prefect.client.orchestration import get_client

    async def read() -> list[dict]:
        async with get_client() as client:
            response = await client._client.post("/events/filter", json={"filter": {"event": {"prefix": [prefix]}}, "limit": 50})
            response.raise_for_status()
            return response.json()["events"]

    return asyncio.run(read())


def test_a_drifted_day_opens_one_incident_per_kind_and_its_event_reaches_the_server(drift_root):
    root, outcome = drift_root
    drifted = outcome["days"][DRIFTED.isoformat()]
    assert "review-sentiment.incident.opened" in drifted["events"]
    assert "review-sentiment.report.published" in drifted["events"]
    summary = _summary(root, DRIFTED)
    opened = {i["kind"]: i for i in summary["incidents"] if i["status"] == "new"}
    assert {"predictions", "input"} <= set(opened), summary["incidents"]
    assert len(summary["incidents"]) == len({i["kind"] for i in summary["incidents"]})  # one incident per kind
    for incident in opened.values():
        assert incident["severity"] in ("warning", "page") and incident["evidence"] and incident["first_seen"] == DRIFTED.isoformat()
    fired = [s for s in summary["signals"] if s["fired"]]
    assert all(s["value"] >= s["threshold"] and (s["chance_level"] is None or s["value"] > s["chance_level"]) for s in fired)
    assert summary["drift"]["class_shares"]["trailing"]["psi"] >= ReportThresholds().psi
    assert summary["text_drift"]["auc"] >= ReportThresholds().text_drift_auc
    assert {"battery", "fire", "recall"} & {t["token"] for t in summary["text_drift"]["day_tokens"][:5]}
    ordinary = _summary(root, NORMAL_DAYS[-1])
    assert not [i for i in ordinary["incidents"] if i["kind"] == "predictions"], ordinary["incidents"]
    assert "review-sentiment.incident.opened" not in outcome["days"][NORMAL_DAYS[-1].isoformat()]["events"]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the events worker sends asynchronously
        events = _server_events("review-sentiment.incident.opened")
        mine = [e for e in events if e["resource"].get("review-sentiment.night") == DRIFTED.isoformat()]
        if mine:
            assert any(e["resource"]["prefect.resource.name"] == opened["predictions"]["message"][:500] for e in mine)
            break
        time.sleep(1)
    else:
        pytest.fail("the incident event never reached the Prefect server")


def test_rebuilding_the_next_nights_report_continues_the_incident(drift_root, tmp_path):
    """The night after an incident, the same shift is the same incident, one night older,
    with no new alert."""
    root, _ = drift_root
    following = DRIFTED + dt.timedelta(days=1)
    write_incoming_batches(root, _negative_reviews_of_one_product(150, following))
    outcome = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=following, report=ReportOptions(window_days=3)))
    summary = _summary(root, following)
    continuing = {i["kind"]: i for i in summary["incidents"] if i["status"] == "continuing"}
    assert "predictions" in continuing, summary["incidents"]
    assert continuing["predictions"]["id"] == f"predictions-{DRIFTED.isoformat()}" and continuing["predictions"]["age_nights"] == 2
    assert continuing["predictions"]["severity"] == "info"
    assert "review-sentiment.incident.continuing" in outcome["days"][following.isoformat()]["events"]


def test_report_has_every_section_and_one_self_contained_html(drift_root):
    root, _ = drift_root
    folder = root.reports_dir(DRIFTED)
    page = root.fs.cat_file(posixpath.join(folder, "report.html")).decode()

    class Collect(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.ids, self.sources, self.links = set(), [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if "id" in attrs:
                self.ids.add(attrs["id"])
            if tag in ("img", "script", "iframe") or (tag == "link" and "href" in attrs):
                self.sources.append(attrs.get("src") or attrs.get("href"))

    parsed = Collect()
    parsed.feed(page)
    assert set(SECTIONS) <= parsed.ids
    assert len(parsed.sources) >= 7
    for source in parsed.sources:  # nothing to fetch: every chart is inside the file
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    summary = _summary(root, DRIFTED)
    assert summary["live_quality"]["rated_reviews"] == summary["reviews"] == 150
    assert [q["class"] for q in summary["live_quality"]["per_class"]] == ["negative", "neutral", "positive"]
    assert len(summary["live_quality"]["trend"]) == 4
    assert summary["input_health"]["day"]["oov_share"] > summary["input_health"]["trailing"]["oov_share"]
    explained = summary["explanations"]["reviews"]
    assert 1 <= len(explained) <= ReportThresholds().explain_reviews
    # Each explanation's cost is recorded (a number); its size is a benchmark's business.
    assert all(r["product_id"] == "B00FIRE" and r["lime"] and isinstance(r["lime_seconds"], float) for r in explained)
    assert isinstance(summary["explanations"]["seconds_per_explanation"], float)
    strong = summary["strong_sentiment"]
    assert strong["strongly_negative_share"] is not None and "p(negative) >= 0.9" in strong["rule"]
    markdown = root.fs.cat_file(posixpath.join(folder, "report.md")).decode()
    for title in ("Incidents", "Monitor: every signal", "Predicted probabilities", "Input health", "Text drift", "Why the worst reviews are negative", "Live quality"):
        assert f"## {title}" in markdown


def test_the_window_is_a_parameter_in_every_text(drift_root):
    root, _ = drift_root
    page = root.fs.cat_file(posixpath.join(root.reports_dir(DRIFTED), "report.html")).decode()
    assert "trailing 3 days" in page and "30 days" not in page


def test_psi_against_a_model_without_training_counts_is_unavailable(drift_root, tmp_path):
    root, _ = drift_root
    bare = tmp_path / "bare-model"  # a model folder outside the registry, no fingerprint
    shutil.copytree(root.models_dir("20260101T000000Z-cafe0001"), bare)
    (bare / "fingerprint.json").unlink()
    summary = report(run_date=NORMAL_DAYS[-1], data_root=root.url, model_version=str(bare), report_options=ReportOptions(window_days=3))
    assert summary["drift"]["class_shares"]["training"] is None
    assert "no training class counts" in summary["drift"]["unavailable"]["class_shares_vs_training"]
    assert summary["drift"]["class_shares"]["trailing"] is not None
    assert all(row["training_share"] is None for row in summary["class_distribution"])


def test_labels_outside_the_classes_are_counted_apart(tmp_path):
    """A scoring label that is no class decision (e.g. empty_text) stays out of the shares."""
    root = DataRoot(str(tmp_path / "data"))
    day = dt.date(2015, 6, 1)
    _write_scored_day(root, day, ("negative", "neutral", "positive"), ["negative", "positive", "positive", "empty_text"])
    summary = build_report(root, day, ModelContext(training_counts={"negative": 1, "neutral": 1, "positive": 2}), ReportOptions(window_days=2))
    shares = {row["label"]: row["day_share"] for row in summary["class_distribution"]}
    assert shares == {"negative": pytest.approx(1 / 3), "neutral": 0.0, "positive": pytest.approx(2 / 3)}
    assert summary["other_labels"] == {"empty_text": 1}


def test_the_report_shows_a_star_models_five_classes(tmp_path):
    """A one-class-per-star model's day: the star view counts predicted against rated
    stars, and the strong view is the model's own extreme classes (1 and 5 stars), not the
    probability rule (which would count 2 and 3 of these rows)."""
    root = DataRoot(str(tmp_path / "data"))
    day = dt.date(2015, 6, 2)
    _write_scored_day(root, day - dt.timedelta(days=1), LABELS, ["positive", "negative"], ratings=[5, 1])  # a 3-class model's day, written before the column
    predicted_stars = [1, 2, 3, 5, 4, 4]
    labels = [LABELS[STAR_LABEL_IDS[s - 1]] for s in predicted_stars]
    _write_scored_day(root, day, LABELS, labels, ratings=[1, 2, 3, 5, 5, 5], predicted_stars=predicted_stars)
    summary = build_report(root, day, ModelContext(), ReportOptions(window_days=2))
    assert summary["classes"] == list(LABELS)
    view = {row["stars"]: row for row in summary["star_view"]}
    assert [view[s]["predicted"] for s in range(1, 6)] == [1, 1, 1, 2, 1]
    assert [view[s]["rated"] for s in range(1, 6)] == [1, 1, 1, 0, 3]
    assert view[1]["exact_recall"] == 1.0 and view[4]["exact_recall"] is None and view[5]["exact_recall"] == pytest.approx(1 / 3)
    assert summary["strong_sentiment"]["strongly_negative_share"] == pytest.approx(1 / 6)
    assert summary["strong_sentiment"]["strongly_positive_share"] == pytest.approx(1 / 6)
    assert "1 star" in summary["strong_sentiment"]["rule"]
    yesterday = build_report(root, day - dt.timedelta(days=1), ModelContext(), ReportOptions(window_days=2))
    assert yesterday["star_view"] == [] and yesterday["strong_sentiment"]["strongly_negative_share"] == pytest.approx(1 / 2)


def test_a_scored_part_written_before_predicted_stars_reads_as_the_schema(tmp_path):
    root = DataRoot(str(tmp_path / "data"))
    day = dt.date(2015, 6, 3)
    _write_scored_day(root, day, LABELS, ["positive", "neutral"], ratings=[5, 3])
    table = read_scored_day(root, day)
    assert table.schema.equals(SCORED_SCHEMA) and table.column("predicted_stars").null_count == 2


def test_model_context_reads_the_registry(drift_root):
    root, _ = drift_root
    context = model_context(root, root.models_dir("20260101T000000Z-cafe0001"), load_model=False)
    assert context.training_counts == {"negative": 150, "neutral": 120, "positive": 330}
    assert context.vocabulary is not None and context.max_length == 24 and context.test_metrics["macro_f1"] > 0


def test_an_expected_empty_night_reports_no_reviews_and_opens_no_incident(drift_root):
    root, _ = drift_root
    day = dt.date(2015, 7, 9)
    outcome = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=day, expect_empty_nights=True))  # else the night fails: no input
    assert outcome["days"][day.isoformat()]["events"] == ["review-sentiment.report.published"]
    assert _summary(root, day)["incidents"] == []
    assert root.read_json(posixpath.join(root.scored_dir(day), MANIFEST))["rows"] == 0


def _write_scored_day(root: DataRoot, day: dt.date, classes: tuple[str, ...], predicted: list[str], ratings: list[int] | None = None, predicted_stars: list[int] | None = None) -> None:
    """A scored day written directly (any class list), with its manifest; without
    ``predicted_stars`` the part lacks the column, as parts written before it existed."""
    n = len(predicted)
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(len(classes)), n).astype(np.float32)
    for row, label in enumerate(predicted):
        if label in classes:
            probabilities[row] = 0.02 / (len(classes) - 1)
            probabilities[row, classes.index(label)] = 0.98
        else:  # no class decision, no probabilities
            probabilities[row] = np.nan
    table = pa.table(
        {
            "review_id": [f"r{i}" for i in range(n)],
            "product_id": ["P1"] * n,
            "rating": pa.array(ratings or [None] * n, pa.int8()),
            "predicted_label": predicted,
            **{f"p_{name}": probabilities[:, i] for i, name in enumerate(classes)},
            "confidence": probabilities.max(1),
            "top_tokens": pa.array([["word"]] * n, pa.list_(pa.string())),
            **({"predicted_stars": pa.array(predicted_stars, pa.int8())} if predicted_stars else {}),
            "model_version": ["m1"] * n,
            "scored_at": pa.array([dt.datetime(2015, 6, 1, tzinfo=dt.UTC)] * n, pa.timestamp("s", tz="UTC")),
        }
    )
    folder = root.scored_dir(day)
    root.fs.makedirs(posixpath.join(folder, "run=r1"), exist_ok=True)
    pq.write_table(table, posixpath.join(folder, "run=r1", "part-00000.parquet"))
    root.write_json_atomic(posixpath.join(folder, MANIFEST), {"run_id": "r1", "files": ["run=r1/part-00000.parquet"], "rows": n, "quarantined": 0})


def test_one_streaming_pass_over_the_day_gives_the_whole_days_figures(tmp_path, monkeypatch):
    """The report reads a day's texts a record batch at a time (bounded memory): the input
    statistics equal those of all the texts at once, the sample takes the first rows of
    every file, and the wanted reviews are found in whichever file holds them."""
    from sentiment_model.model.text import Vocabulary, tokenize
    from sentiment_model.reporting import monitoring, texts

    root = DataRoot(str(tmp_path / "data"))
    day = dt.date(2015, 6, 4)
    write_incoming_batches(root, canonical_rows(synthetic_reviews(90, seed=5), day), rows_per_file=30)
    whole = texts.read_day_texts(root, day)
    vocabulary = Vocabulary.build(tokenize(whole.column("text").slice(0, 40)), 200, 1)
    expected = monitoring.input_stats(whole.column("text"), vocabulary, 12)
    real_batches = texts._day_text_batches
    monkeypatch.setattr(texts, "_day_text_batches", lambda r, d, rows_per_file=None: real_batches(r, d, rows_per_file, batch_rows=7))
    stats = monitoring.InputStatsAccumulator(vocabulary, 12)
    wanted = {whole.column("review_id")[i].as_py() for i in (0, 45, 89)}
    sample, found = texts.scan_day_texts(root, day, 12, wanted, stats)
    assert stats.result() == expected
    firsts = [whole.column("text")[i].as_py() for start in (0, 30, 60) for i in range(start, start + 4)]
    assert sample.to_pylist() == firsts  # 12 rows: the first 4 of each of the 3 files
    ids = whole.column("review_id").to_pylist()
    assert found == {review_id: whole.column("text")[ids.index(review_id)].as_py() for review_id in wanted}
