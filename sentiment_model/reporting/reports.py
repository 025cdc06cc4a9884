"""The nightly report: SQL files in ``sql/`` run by DuckDB over the scored Parquet, plus
input health, text drift, explanations, live quality against the stars, and the monitor's
signals and incidents; written as HTML, markdown, chart PNGs and summary.json
(``monitoring.py``, ``signals.py`` and ``incidents.py`` do the maths, ``charts.py`` and
``render.py`` the output)."""

from __future__ import annotations

import datetime as dt
import math
import posixpath
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sentiment_model.core.errors import CorruptFileError, corrupt_file_error, is_unreadable_data
from sentiment_model.core.layout import DAY_FOLDER_PATTERN, DataRoot
from sentiment_model.core.parquet_parts import parquet_footer, readable_parts
from sentiment_model.core.schema import LABELS, SCORED_SCHEMA, STAR_LABEL_IDS
from sentiment_model.core.settings import ReportOptions, ReportThresholds, bundled_path
from sentiment_model.model.text import Vocabulary, review_text
from sentiment_model.reporting import incidents, monitoring, signals
from sentiment_model.reporting.charts import report_charts
from sentiment_model.reporting.render import render_html, render_markdown, signal_rows
from sentiment_model.scoring.batch import list_day_files, scored_files

if TYPE_CHECKING:
    from sentiment_model.model.classifier import SentimentClassifier


def load_sql(name: str, sql_dir: Path | None = None) -> str:
    """A report query from ``sql/`` (the checkout's, or the installed wheel's)."""
    return ((sql_dir or bundled_path("sql")) / f"{name}.sql").read_text(encoding="utf-8")


# Kept importable from here: callers and tests know it by this module.
population_stability_index = monitoring.population_stability_index


def star_classes(classes: Sequence[str]) -> dict[int, str] | None:
    """The class each star rating means (1-2 / 3 / 4-5, :data:`STAR_LABEL_IDS`); None when
    the classes are not the three sentiment classes."""
    if len(classes) != len(LABELS):
        return None
    return {star: classes[label] for star, label in enumerate(STAR_LABEL_IDS, start=1)}


@dataclass
class ModelContext:
    """What the report knows about the model that scored the day. Every field may be
    missing (a model folder outside the registry has no fingerprint): the report then
    says what it cannot compare, instead of comparing with zeros."""

    version: str | None = None
    training_counts: dict[str, int] | None = None
    test_metrics: dict[str, Any] | None = None
    vocabulary: Vocabulary | None = None
    max_length: int | None = None
    training_reference: dict[str, Any] | None = None
    predict_proba: Callable[[list[str]], np.ndarray] | None = None


def _read_model_file(root: DataRoot, folder: str, name: str) -> Any | None:
    local = Path(folder, name)
    if local.is_file():
        return orjson.loads(local.read_bytes())
    path = root.model_file(folder, name)
    return root.read_json(path) if root.exists(path) else None


def model_context(root: DataRoot, model_dir: str | None, load_model: bool = True, classifier: SentimentClassifier | None = None) -> ModelContext:
    """Read a model folder's fingerprint, test metrics, vocabulary and config (and the
    network, for model-agnostic explanations, when ``load_model``; ``classifier`` is that
    network already loaded, e.g. by the night's scoring: a second copy costs memory)."""
    if not model_dir:
        return ModelContext()
    fingerprint = _read_model_file(root, model_dir, "fingerprint.json") or {}
    metrics = _read_model_file(root, model_dir, "metrics.json") or {}
    config = _read_model_file(root, model_dir, "config.json") or {}
    vocabulary = _read_model_file(root, model_dir, "vocabulary.json")
    counts = (fingerprint.get("class_counts") or {}).get("train")
    context = ModelContext(
        version=posixpath.basename(model_dir.rstrip("/")),
        training_counts=counts if counts and sum(counts.values()) > 0 else None,
        test_metrics=metrics.get("test"),
        vocabulary=Vocabulary(tuple(vocabulary["tokens"])) if vocabulary else None,
        max_length=config.get("max_length"),
        training_reference=fingerprint.get("input_reference"),
    )
    if load_model:
        from sentiment_model.model.registry import load_model_dir

        classifier = classifier or load_model_dir(root, model_dir)
        context.predict_proba = lambda texts: classifier.predict_proba(list(texts))
    return context


def _duckdb_path(root: DataRoot, path: str) -> str:
    return path if root.is_local else root.fs.unstrip_protocol(path)


class ReportQueries:
    """A DuckDB connection with the report's views defined over the scored Parquet."""

    def __init__(
        self,
        root: DataRoot,
        day: dt.date,
        window_days: int,
        training_counts: dict[str, int] | None,
        classes: Sequence[str] | None = None,
        *,
        strong_probability: float,
    ) -> None:
        self.con = duckdb.connect()
        if not root.is_local:
            self.con.register_filesystem(root.fs)
        self.con.register("scored_empty", SCORED_SCHEMA.empty_table())
        day_files = scored_files(root, day)
        for path in day_files:  # tonight's own scored parts: a damaged one fails the night, named
            parquet_footer(root, path)
        trailing = [day - dt.timedelta(days=i) for i in range(1, window_days + 1)]
        # A damaged part of a past night is left out of the window (and said so in the
        # report): one bad file must not break every later night's report.
        window_files, self.skipped = readable_parts(root, [f for d in trailing for f in scored_files(root, d)])
        self._view("scored_day_raw", [_duckdb_path(root, f) for f in day_files], "scored_empty")
        # An empty window takes the day's columns (the model's classes), not the default schema's.
        self._view("scored_window_raw", [_duckdb_path(root, f) for f in window_files], "scored_day_raw WHERE false")
        self.classes = tuple(classes) if classes else self._probability_classes()
        p_first, p_last = f'"p_{self.classes[0]}"', f'"p_{self.classes[-1]}"'
        # A one-class-per-star model's own extreme classes (1 and 5 stars) are its strong
        # view; a 3-class model's is a high probability of the extreme class.
        strong = f"coalesce(predicted_stars = 1, {p_first} >= {strong_probability}) AS strongly_negative, coalesce(predicted_stars = 5, {p_last} >= {strong_probability}) AS strongly_positive"
        extra = f"{p_first} AS p_most_negative, {strong}"
        self.con.execute(f"CREATE VIEW scored_day AS SELECT *, {extra} FROM scored_day_raw")
        self.con.execute(f"CREATE VIEW scored_window AS SELECT *, {extra} FROM scored_window_raw")
        trend = [_duckdb_path(root, f) for f in window_files + day_files]
        if trend:
            self.con.execute(
                f"CREATE VIEW scored_trend AS SELECT *, {extra}, CAST(regexp_extract(filename, '{DAY_FOLDER_PATTERN}', 1) AS DATE) AS scored_date "
                f"FROM (SELECT * FROM read_parquet({self._list(trend)}, filename = true, union_by_name = true) UNION ALL BY NAME SELECT *, '' AS filename FROM scored_empty)"
            )
        else:
            self.con.execute(f"CREATE VIEW scored_trend AS SELECT *, {extra}, CAST(NULL AS DATE) AS scored_date FROM scored_empty")
        columns = ", ".join(f'"p_{c}"' for c in self.classes)
        # Only class decisions: a row labelled outside the classes (e.g. empty_text) has no belief to compare.
        decided = "predicted_label IN (" + ", ".join("'" + c.replace("'", "''") + "'" for c in self.classes) + ")"
        self.con.execute(
            f"CREATE VIEW scored_probabilities AS "
            f"UNPIVOT (SELECT 'day' AS period, {columns} FROM scored_day_raw WHERE {decided} "
            f"UNION ALL SELECT 'trailing' AS period, {columns} FROM scored_window_raw WHERE {decided}) "
            f"ON {columns} INTO NAME class VALUE p"
        )
        counts = training_counts or {}
        self.con.register("training_labels", pa.table({"label": pa.array(list(counts), pa.string()), "n": pa.array(list(counts.values()), pa.int64())}))
        stars = star_classes(self.classes) or {}
        self.con.register("star_labels", pa.table({"rating": pa.array(list(stars), pa.int8()), "label": pa.array(list(stars.values()), pa.string())}))
        negative = sorted({stars[1], stars[2]}) if stars else [self.classes[0]]
        self.con.register("negative_labels", pa.table({"label": pa.array(negative, pa.string())}))
        self.day_rows, star_rows = self.con.execute("SELECT count(*), count(predicted_stars) FROM scored_day_raw").fetchone()
        self.has_stars = star_rows > 0

    def _probability_classes(self) -> tuple[str, ...]:
        """The model's classes, from the scored files' ``p_<class>`` columns, in order."""
        names = [row[0] for row in self.con.execute("DESCRIBE scored_day_raw").fetchall()]
        classes = tuple(name[2:] for name in names if name.startswith("p_"))
        return classes or LABELS

    @staticmethod
    def _list(paths: list[str]) -> str:
        return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"

    def _view(self, name: str, paths: list[str], empty: str) -> None:
        if not paths:
            self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM {empty}")
            return
        # By name, with the schema's empty table: parts written before a nullable column
        # existed (predicted_stars) read it as null, and days of different models mix.
        self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({self._list(paths)}, union_by_name = true) UNION ALL BY NAME SELECT * FROM scored_empty")

    def close(self) -> None:
        """Close the connection: on object stores it holds open fsspec file handles."""
        self.con.close()

    def __enter__(self) -> ReportQueries:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def run(self, name: str, **parameters: Any) -> list[dict[str, Any]]:
        sql = load_sql(name)
        relation = self.con.execute(sql, parameters) if parameters else self.con.execute(sql)
        columns = [c[0] for c in relation.description]
        return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)


# --- the day's texts (the scored rows do not carry them) -----------------------------------
def _day_text_batches(root: DataRoot, day: dt.date, rows_per_file: int | None = None, batch_rows: int = 65_536, skipped: list[dict[str, str]] | None = None) -> Iterator[tuple[int, pa.Table]]:
    """(file index, ``review_id``/``product_id``/model input text) record batches of the
    day's batch files, one file open at a time; only the first ``rows_per_file`` rows of
    each file when given (files are sorted by review id, so that is a sample). A file that
    cannot be read fails with its name, or, given a ``skipped`` list (a past night), is
    noted there and left out."""
    for index, path in enumerate(list_day_files(root, day)):
        try:
            yield from _file_text_batches(root, index, path, rows_per_file, batch_rows)
        except CorruptFileError as exc:
            if skipped is None:
                raise
            skipped.append({"file": root.uri(path), "reason": str(exc)})


def _file_text_batches(root: DataRoot, index: int, path: str, rows_per_file: int | None, batch_rows: int) -> Iterator[tuple[int, pa.Table]]:
    left = rows_per_file
    parquet_footer(root, path)
    try:
        with root.fs.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            names = [n for n in ("review_id", "product_id", "title", "text") if n in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(batch_size=batch_rows if left is None else max(1, min(batch_rows, left)), columns=names):
                if left is not None:
                    batch, left = batch.slice(0, left), left - min(left, batch.num_rows)
                if batch.num_rows:
                    yield index, _texts_of(batch)
                if left == 0:
                    break
    except Exception as exc:
        if not is_unreadable_data(exc):  # a vanished file or a storage hiccup keeps its type
            raise
        raise corrupt_file_error(root.uri(path), exc) from None  # a damaged page behind a good footer


def _texts_of(batch: pa.RecordBatch) -> pa.Table:
    names = batch.schema.names
    title = batch.column("title") if "title" in names else pa.nulls(batch.num_rows, pa.string())
    body = batch.column("text") if "text" in names else pa.nulls(batch.num_rows, pa.string())
    product = batch.column("product_id") if "product_id" in names else pa.nulls(batch.num_rows, pa.string())
    return pa.table({"review_id": batch.column("review_id").cast(pa.string()), "product_id": product.cast(pa.string()), "text": review_text(title.cast(pa.string()), body.cast(pa.string()))})


def read_day_texts(root: DataRoot, day: dt.date, limit: int | None = None, skipped: list[dict[str, str]] | None = None) -> pa.Table:
    """``review_id``, ``product_id`` and the model's input text (title . body) of the day's
    batch files; at most ``limit`` rows (the first of each file), spread over the files
    (``skipped``: see :func:`_day_text_batches`)."""
    files = len(list_day_files(root, day))
    per_file = None if limit is None or not files else max(1, math.ceil(limit / files))
    tables = [table for _, table in _day_text_batches(root, day, per_file, skipped=skipped)]
    if not tables:
        return pa.table({"review_id": pa.array([], pa.string()), "product_id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    out = pa.concat_tables(tables)
    return out if limit is None else out.slice(0, limit)


def scan_day_texts(root: DataRoot, day: dt.date, sample_rows: int, wanted_ids: set[str], stats: monitoring.InputStatsAccumulator | None) -> tuple[pa.Array, dict[str, str]]:
    """One pass over the day's texts, a record batch at a time (bounded memory on a day of
    any size): feeds ``stats``, and returns a sample of about ``sample_rows`` texts (the
    first rows of each file) and the texts of ``wanted_ids``."""
    files = len(list_day_files(root, day))
    per_file = max(1, math.ceil(sample_rows / files)) if files else 0
    taken: dict[int, int] = {}
    sample: list[pa.Array] = []
    wanted: dict[str, str] = {}
    value_set = pa.array(sorted(wanted_ids), pa.string())
    for index, table in _day_text_batches(root, day):
        texts = table.column("text").combine_chunks()
        if stats is not None:
            stats.add(texts)
        room = per_file - taken.get(index, 0)
        if room > 0:
            sample.append(texts.slice(0, room))
            taken[index] = taken.get(index, 0) + min(room, len(texts))
        if len(value_set):
            hits = table.filter(pc.is_in(table.column("review_id"), value_set=value_set))
            wanted.update(zip(hits.column("review_id").to_pylist(), hits.column("text").to_pylist(), strict=True))
    return (pa.concat_arrays(sample) if sample else pa.array([], pa.string())), wanted


def read_window_texts(root: DataRoot, day: dt.date, window_days: int, limit: int, skipped: list[dict[str, str]] | None = None) -> pa.Array:
    """A sample of the trailing window's review texts, spread evenly over its days; a
    damaged batch file is left out (noted in ``skipped`` when given)."""
    days = [day - dt.timedelta(days=i) for i in range(1, window_days + 1)]
    days = [d for d in days if list_day_files(root, d)]
    if not days:
        return pa.array([], pa.string())
    per_day = max(1, math.ceil(limit / len(days)))
    noted = [] if skipped is None else skipped
    return pa.concat_arrays([read_day_texts(root, d, per_day, noted).column("text").combine_chunks() for d in days] or [pa.array([], pa.string())])


def _empty_day_report(root: DataRoot, day: dt.date, model_version: str | None) -> dict[str, Any]:
    """A report that says plainly that nothing was scored for ``day`` (the nightly flow
    decides whether an empty night is a failure)."""
    message = f"no reviews for {day.isoformat()}"
    summary = {"date": day.isoformat(), "reviews": 0, "message": message, "model_version": model_version, "signals": [], "incidents": []}
    note = f"<h1>Review sentiment, {day}</h1><p>No reviews for {day}: nothing was scored.</p>"
    html = f"<!doctype html><html><head><meta charset='utf-8'><title>{day}</title></head><body>{note}</body></html>"
    markdown = f"# Review sentiment, {day}\n\nNo reviews for {day}: nothing was scored.\n"
    write_report_files(root, day, {"report.html": html.encode(), "report.md": markdown.encode()}, summary)
    return {**summary, "tables": {}, "report_html": root.uri(root.report_file(day, "report.html"))}


# --- sections --------------------------------------------------------------------------------
def _class_distribution(rows: list[dict[str, Any]], classes: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The model's classes in order with shares among them; labels outside the classes
    (e.g. ``empty_text``) are counted separately and kept out of the shares."""
    by_label = {row["label"]: row for row in rows}
    ordered = [by_label.get(label, {"label": label, "day_count": 0, "trailing_count": 0, "training_count": 0}) for label in classes]
    totals = {key: sum(row[key] for row in ordered) for key in ("day_count", "trailing_count", "training_count")}
    out = []
    for row in ordered:
        out.append(
            {
                "label": row["label"],
                "day_count": int(row["day_count"]),
                "day_share": row["day_count"] / totals["day_count"] if totals["day_count"] else 0.0,
                "trailing_count": int(row["trailing_count"]),
                "trailing_share": row["trailing_count"] / totals["trailing_count"] if totals["trailing_count"] else None,
                "training_count": int(row["training_count"]),
                "training_share": row["training_count"] / totals["training_count"] if totals["training_count"] else None,
            }
        )
    other = {row["label"]: int(row["day_count"]) for row in rows if row["label"] not in classes and row["day_count"]}
    return out, other


def _drift(distribution: list[dict[str, Any]], hist_rows: list[dict[str, Any]], classes: Sequence[str], model: ModelContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Effect sizes (PSI, JS distance) of the class shares and of each class's probability
    histogram, against the trailing window and the training data; a reason where a
    reference is missing."""
    day_counts = [row["day_count"] for row in distribution]
    histograms: dict[str, dict[str, list[int]]] = {"day": {}, "trailing": {}}
    for row in hist_rows:
        histograms[row["period"]].setdefault(row["class"][2:], [0] * monitoring.PROBABILITY_BINS)[int(row["bin"])] = int(row["reviews"])
    histograms["training"] = (model.training_reference or {}).get("probability_histograms") or {}
    drift: dict[str, Any] = {"class_shares": {}, "probabilities": {}, "unavailable": {}}
    for reference, key in (("trailing", "trailing_count"), ("training", "training_count")):
        drift["class_shares"][reference] = monitoring.distribution_drift(day_counts, [row[key] for row in distribution])
        drift["probabilities"][reference] = {
            label: measured for label in classes if (measured := monitoring.distribution_drift(histograms["day"].get(label, []) or [0], histograms[reference].get(label)))
        } or None
    if model.training_counts is None:
        drift["unavailable"]["class_shares_vs_training"] = "the model has no training class counts (no fingerprint, e.g. a model folder outside the registry)"
    if not histograms["training"]:
        drift["unavailable"]["probabilities_vs_training"] = "the model's fingerprint has no probability histograms (input_reference)"
    if drift["class_shares"]["trailing"] is None:
        drift["unavailable"]["vs_trailing"] = "no scored reviews in the trailing window"
    return drift, histograms


def _live_quality(rows: list[dict[str, Any]], day: dt.date, classes: Sequence[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1 against the stars for the day, and F1 per day over the
    window (the trend)."""
    index = {label: i for i, label in enumerate(classes)}
    by_day: dict[dt.date, np.ndarray] = {}
    for row in rows:
        if row["predicted_label"] not in index:  # e.g. empty_text: not a class decision
            continue
        matrix = by_day.setdefault(row["day"], np.zeros((len(classes), len(classes)), dtype=np.int64))
        matrix[index[row["true_label"]], index[row["predicted_label"]]] += row["reviews"]
    trend = []
    for when in sorted(by_day):
        quality = monitoring.per_class_quality(by_day[when], classes)
        trend.append(
            {
                "day": when.isoformat(),
                "rated_reviews": int(by_day[when].sum()),
                "macro_f1": monitoring.macro_f1_present(quality),
                "f1": {q["class"]: q["f1"] if q["support"] else None for q in quality},
            }
        )
    confusion = by_day.get(day)
    return {**monitoring.live_quality(confusion if confusion is not None else np.zeros((len(classes), len(classes))), classes), "trend": trend}


def _trend(rows: list[dict[str, Any]], classes: Sequence[str]) -> list[dict[str, Any]]:
    days: dict[dt.date, dict[str, Any]] = {}
    for row in rows:
        entry = days.setdefault(row["day"], {"reviews": 0, "counts": {}, "strongly_negative": 0, "strongly_positive": 0, "confidence_sum": 0.0})
        entry["reviews"] += row["reviews"]
        entry["counts"][row["label"]] = int(row["reviews"])
        entry["strongly_negative"] += row["strongly_negative"]
        entry["strongly_positive"] += row["strongly_positive"]
        entry["confidence_sum"] += row["confidence_sum"] or 0.0
    out = []
    for when in sorted(days):
        entry = days[when]
        decided = sum(entry["counts"].get(label, 0) for label in classes)
        out.append(
            {
                "day": when.isoformat(),
                "reviews": entry["reviews"],
                **{label: entry["counts"].get(label, 0) for label in classes},
                "shares": {label: entry["counts"].get(label, 0) / decided if decided else 0.0 for label in classes},
                "strongly_negative_share": entry["strongly_negative"] / entry["reviews"],
                "strongly_positive_share": entry["strongly_positive"] / entry["reviews"],
                "mean_confidence": entry["confidence_sum"] / entry["reviews"],
            }
        )
    return out


def _worst_reviews(queries: ReportQueries, products: list[dict[str, Any]], thresholds: ReportThresholds) -> list[dict[str, Any]]:
    """The day's most negative reviews of the most negative products (texts added later)."""
    if not products or thresholds.explain_reviews == 0:
        return []
    queries.register("worst_products", pa.table({"product_id": pa.array([p["product_id"] for p in products], pa.string())}))
    return queries.run("worst_reviews", limit=thresholds.explain_reviews)


def _explanations(reviews: list[dict[str, Any]], products: list[dict[str, Any]], classes: Sequence[str], model: ModelContext, thresholds: ReportThresholds) -> dict[str, Any]:
    """Attention tokens (from scoring) beside LIME's words for the worst reviews, with the
    seconds each LIME explanation cost."""
    if not products or thresholds.explain_reviews == 0:
        return {"reviews": [], "note": "no negative products today" if not products else "explanations turned off (explain_reviews = 0)"}
    explainable = [r for r in reviews if r["text"] is not None]
    note = ""
    if model.predict_proba is None:
        note = "LIME unavailable: the model could not be loaded for the report"
    elif explainable:
        lime = monitoring.lime_explanations(model.predict_proba, [r["text"] for r in explainable], classes, 0, thresholds.lime_samples, seed=0)
        for review, explanation in zip(explainable, lime, strict=True):
            review["lime"] = explanation["weights"]
            review["lime_seconds"] = explanation["seconds"]
    seconds = [r["lime_seconds"] for r in reviews if "lime_seconds" in r]
    return {
        "reviews": [{**r, "top_tokens": list(r["top_tokens"] or []), "text": (r["text"] or "")[:400]} for r in reviews],
        "explained_class": classes[0],
        "lime_samples": thresholds.lime_samples,
        "seconds_per_explanation": float(np.mean(seconds)) if seconds else None,
        "note": note,
    }


def build_report(
    root: DataRoot,
    day: dt.date,
    model: ModelContext | None = None,
    options: ReportOptions | None = None,
) -> dict[str, Any]:
    """Run every report query and check for ``day`` and write report.html (one
    self-contained file), report.md, the chart PNGs and summary.json under
    ``<root>/reports/date=D/``. Returns the summary, with the night's ``signals`` and
    ``incidents``, the ``tables`` and ``charts`` the UI shows, and where the HTML is."""
    model = model or ModelContext()
    options = options or ReportOptions()
    window_days, min_support = options.window_days, options.min_support
    thresholds = options.thresholds or ReportThresholds()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    with ReportQueries(root, day, window_days, model.training_counts, strong_probability=thresholds.strong_probability) as queries:
        folder = root.reports_dir(day)
        root.fs.makedirs(folder, exist_ok=True)
        if queries.day_rows == 0:
            return _empty_day_report(root, day, model.version)
        classes, has_stars = queries.classes, queries.has_stars
        stars = _star_view(queries.run("star_view")) if has_stars else []
        distribution, other_labels = _class_distribution(queries.run("class_distribution"), classes)
        trend = _trend(queries.run("sentiment_trend"), classes)
        products = queries.run("top_negative_products", min_support=min_support, limit=options.top_products)
        histogram = queries.run("confidence_histogram", low_confidence=thresholds.low_confidence)
        live = _live_quality(queries.run("live_quality"), day, classes)
        drift, histograms = _drift(distribution, queries.run("probability_histograms"), classes, model)
        ratings = queries.run("rating_distribution")
        lap("queries")
        worst = _worst_reviews(queries, products[:3], thresholds)
        measurable = model.vocabulary is not None and model.max_length is not None
        stats = monitoring.InputStatsAccumulator(model.vocabulary, model.max_length, thresholds.short_review_tokens) if measurable else None
        # One streaming pass: a 1M-review day's texts held at once cost ~500 MB more.
        day_sample, worst_texts = scan_day_texts(root, day, thresholds.text_sample_rows, {row["review_id"] for row in worst}, stats)
        skipped = queries.skipped
        reference_texts = read_window_texts(root, day, window_days, thresholds.text_sample_rows, skipped)
        lap("read texts and input statistics")
        health = _input_health(stats, reference_texts, model, thresholds)
        lap("input health")
        text = monitoring.text_drift(day_sample.to_pylist(), reference_texts.to_pylist())
        lap("text drift")
        explanations = _explanations([{**row, "text": worst_texts.get(row["review_id"])} for row in worst], products[:3], classes, model, thresholds)
        lap("explanations")
        day_rows = queries.day_rows
    # The closed connection goes now: a failed write's traceback would keep it alive until
    # the interpreter exits, where DuckDB's bindings print ~40 lines of "leaked" warnings.
    del queries
    today = trend[-1] if trend and trend[-1]["day"] == day.isoformat() else None
    strong = {
        "rule": ("predicted 1 star / 5 stars (the model's own classes)" if has_stars else f"p({classes[0]}) >= {thresholds.strong_probability} / p({classes[-1]}) >= {thresholds.strong_probability}"),
        "strongly_negative_share": today["strongly_negative_share"] if today else None,
        "strongly_positive_share": today["strongly_positive_share"] if today else None,
    }
    trailing_name = f"trailing {window_days} days"
    measures = _measures(root, day, window_days, distribution, histograms, ratings, health, model)
    night_signals = signals.assess(*measures, classes, thresholds, trailing_name, text, live, model.test_metrics)
    night_incidents = incidents.open_incidents(day, night_signals, previous_incidents(root, day), thresholds)
    summary = {
        "date": day.isoformat(),
        "reviews": int(day_rows),
        "window_days": window_days,
        "model_version": model.version,
        "classes": list(classes),
        "class_distribution": distribution,
        "other_labels": other_labels,
        "drift": drift,
        "probability_histograms": histograms,
        "strong_sentiment": strong,
        "star_view": stars,
        "low_confidence_share": float(sum(row["share"] for row in histogram if row["low_confidence"])),
        "low_confidence_threshold": thresholds.low_confidence,
        "live_quality": live,
        "model_test_quality": _test_quality(model.test_metrics, classes),
        "input_health": health,
        "text_drift": text,
        "explanations": explanations,
        "top_negative_products": products,
        "trend": trend,
        "min_support": min_support,
        "thresholds": thresholds.model_dump(),
        "signals": night_signals,
        "incidents": night_incidents,
        "skipped_files": skipped,
    }
    charts = report_charts(summary, histogram, window_days)
    lap("charts")
    report_html = root.uri(root.report_file(day, "report.html"))
    pages = {"report.html": render_html(summary, charts).encode(), "report.md": render_markdown(summary, {name: name for name in charts}).encode()}
    summary["timings_seconds"] = {**timings, "render": time.perf_counter() - clock}
    write_report_files(root, day, {**charts, **pages}, summary)
    tables = {
        "incidents": [{k: i[k] for k in ("severity", "status", "age_nights", "title", "message")} for i in night_incidents],
        "class_distribution": distribution,
        "top_negative_products": products,
        "live_quality_per_class": live.get("per_class") or [],
        "input_health": health["rows"],
        "signals": signal_rows(night_signals),
    }
    return {**summary, "tables": tables, "charts": charts, "report_html": report_html}


def write_report_files(root: DataRoot, day: dt.date, files: dict[str, bytes], summary: dict[str, Any]) -> None:
    """The day's report files as one set: all written to temp names, then renamed in, with
    summary.json last; a write that fails (a full disk) leaves the previous report whole."""
    payload = orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    named = {root.report_file(day, name): data for name, data in files.items()}
    root.write_files_atomic({**named, root.report_file(day, "summary.json"): payload}, kept=f"the previous report of {day.isoformat()} stays as it was")


def _measures(
    root: DataRoot, day: dt.date, window_days: int, distribution: list[dict[str, Any]], histograms: dict[str, Any], ratings: list[dict[str, Any]], health: dict[str, Any], model: ModelContext
) -> tuple[signals.Measures, signals.Measures | None, signals.Measures | None]:
    """The night, the trailing window and the training data as the monitor reads them."""
    stars: dict[str, dict[int, int]] = {"day": {}, "trailing": {}}
    for row in ratings:
        stars[row["period"]][int(row["rating"])] = int(row["reviews"])
    windows = {"day": [day], "trailing": [day - dt.timedelta(days=i) for i in range(1, window_days + 1)]}

    def period(name: str) -> signals.Measures:
        rows, duplicates = _manifest_counts(root, windows[name])
        return signals.Measures(
            class_counts={row["label"]: row[f"{name}_count"] for row in distribution},
            probability_histograms=histograms[name],
            rating_counts=stars[name] or None,
            input=health.get(name),
            rows=rows,
            duplicates=duplicates,
        )

    night = period("day")
    trailing = period("trailing") if sum(row["trailing_count"] for row in distribution) else None
    reference = model.training_reference or {}
    # The night's predictions are compared with the model's predictions on held-out data,
    # never with the true labels' shares (a model does not reproduce those exactly).
    training = signals.Measures(class_counts=reference.get("predicted_class_counts"), probability_histograms=histograms["training"] or None, input=health.get("training"))
    return night, trailing, (training if training.class_counts or training.probability_histograms or training.input else None)


def _manifest_counts(root: DataRoot, days: list[dt.date]) -> tuple[int | None, int | None]:
    """Reviews read (before duplicates were dropped) and duplicates over the days' scored
    manifests; (None, None) when none of the days was published."""
    rows = duplicates = 0
    found = False
    for day in days:
        path = root.scored_manifest(day)
        try:
            manifest = root.read_json(path) if root.exists(path) else None
        except (OSError, ValueError):
            manifest = None
        if manifest:
            found = True
            rows += int(manifest.get("rows", 0)) + int(manifest.get("duplicates", 0))
            duplicates += int(manifest.get("duplicates", 0))
    return (rows, duplicates) if found else (None, None)


def previous_incidents(root: DataRoot, day: dt.date) -> list[dict[str, Any]]:
    """The incidents open on the nights before ``day`` (``incidents.carried``): a quieter
    night in between (77 reviews cannot show what 3,949 do) does not end an incident."""
    earlier = []
    for back in range(1, incidents.CONTINUE_WITHIN_DAYS + 1):
        path = root.report_file(day - dt.timedelta(days=back), "summary.json")
        try:
            summary = root.read_json(path) if root.exists(path) else None
        except (OSError, ValueError):  # an unreadable old summary continues nothing
            summary = None
        earlier.append((summary or {}).get("incidents") or [])
    return incidents.carried(earlier)


def _star_view(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per star: the share of the day's reviews the model put there, the share the
    reviewers gave (among rated reviews), and the model's recall of that star."""
    predicted, rated = sum(r["predicted"] for r in rows), sum(r["rated"] for r in rows)
    return [
        {
            "stars": r["stars"],
            "predicted": r["predicted"],
            "predicted_share": r["predicted"] / predicted if predicted else None,
            "rated": r["rated"],
            "rated_share": r["rated"] / rated if rated else None,
            "exact_recall": r["exact"] / r["rated"] if r["rated"] else None,
        }
        for r in rows
    ]


def _input_health(day_stats: monitoring.InputStatsAccumulator | None, reference_texts: pa.Array, model: ModelContext, thresholds: ReportThresholds) -> dict[str, Any]:
    if day_stats is None or model.vocabulary is None or model.max_length is None:
        return {"day": None, "trailing": None, "training": None, "rows": [], "note": "the model's vocabulary is not available: input health not measured"}
    day = day_stats.result()
    trailing = monitoring.input_stats(reference_texts, model.vocabulary, model.max_length, thresholds.short_review_tokens) if len(reference_texts) else None
    training = (model.training_reference or {}).get("input")
    note = "" if training else "no training reference in the model's fingerprint (input_reference): compared with the trailing window only"
    return {"day": day, "trailing": trailing, "training": training, "rows": monitoring.input_health_rows(day, {"trailing": trailing, "training": training}), "note": note}


def _test_quality(metrics: dict[str, Any] | None, classes: Sequence[str]) -> list[dict[str, Any]]:
    if not metrics or "per_class" not in metrics:
        return []
    return [{"class": c, **{k: metrics["per_class"][c].get(k) for k in ("precision", "recall", "f1")}} for c in classes if c in metrics["per_class"]]
