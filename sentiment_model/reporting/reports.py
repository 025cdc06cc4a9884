"""The nightly report: SQL files in ``sql/`` run by DuckDB over the scored Parquet, plus
drift effect sizes, input health, text drift, explanations, live quality against the
stars, alerts, charts, and HTML/markdown/JSON output (``monitoring.py`` does the maths)."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
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

from sentiment_model.core.layout import DataRoot
from sentiment_model.core.schema import LABELS, SCORED_SCHEMA, STAR_LABEL_IDS
from sentiment_model.core.settings import ReportOptions, ReportThresholds, bundled_path
from sentiment_model.model.text import Vocabulary, review_text
from sentiment_model.reporting import monitoring
from sentiment_model.scoring.batch import list_day_files, scored_files

if TYPE_CHECKING:
    from sentiment_model.model.classifier import SentimentClassifier

#: Charts shown inline in the Prefect UI's markdown artifact (the rest are in the HTML).
KEY_CHARTS = ("class_distribution.png", "sentiment_trend.png", "probability_histograms.png", "live_quality_trend.png")


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
        strong_probability: float = 0.9,
    ) -> None:
        self.con = duckdb.connect()
        if not root.is_local:
            self.con.register_filesystem(root.fs)
        self.con.register("scored_empty", SCORED_SCHEMA.empty_table())
        day_files = scored_files(root, day)
        trailing = [day - dt.timedelta(days=i) for i in range(1, window_days + 1)]
        window_files = [f for d in trailing for f in scored_files(root, d)]
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
                f"CREATE VIEW scored_trend AS SELECT *, {extra}, CAST(regexp_extract(filename, 'date=([0-9-]{{10}})', 1) AS DATE) AS scored_date "
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
def _day_text_batches(root: DataRoot, day: dt.date, rows_per_file: int | None = None, batch_rows: int = 65_536) -> Iterator[tuple[int, pa.Table]]:
    """(file index, ``review_id``/``product_id``/model input text) record batches of the
    day's batch files, one file open at a time; only the first ``rows_per_file`` rows of
    each file when given (files are sorted by review id, so that is a sample)."""
    for index, path in enumerate(list_day_files(root, day)):
        left = rows_per_file
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


def _texts_of(batch: pa.RecordBatch) -> pa.Table:
    names = batch.schema.names
    title = batch.column("title") if "title" in names else pa.nulls(batch.num_rows, pa.string())
    body = batch.column("text") if "text" in names else pa.nulls(batch.num_rows, pa.string())
    product = batch.column("product_id") if "product_id" in names else pa.nulls(batch.num_rows, pa.string())
    return pa.table({"review_id": batch.column("review_id").cast(pa.string()), "product_id": product.cast(pa.string()), "text": review_text(title.cast(pa.string()), body.cast(pa.string()))})


def read_day_texts(root: DataRoot, day: dt.date, limit: int | None = None) -> pa.Table:
    """``review_id``, ``product_id`` and the model's input text (title . body) of the day's
    batch files; at most ``limit`` rows (the first of each file), spread over the files."""
    files = len(list_day_files(root, day))
    per_file = None if limit is None or not files else max(1, math.ceil(limit / files))
    tables = [table for _, table in _day_text_batches(root, day, per_file)]
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


def read_window_texts(root: DataRoot, day: dt.date, window_days: int, limit: int) -> pa.Array:
    """A sample of the trailing window's review texts, spread evenly over its days."""
    days = [day - dt.timedelta(days=i) for i in range(1, window_days + 1)]
    days = [d for d in days if list_day_files(root, d)]
    if not days:
        return pa.array([], pa.string())
    per_day = max(1, math.ceil(limit / len(days)))
    return pa.concat_arrays([read_day_texts(root, d, per_day).column("text").combine_chunks() for d in days])


# --- charts --------------------------------------------------------------------------------
_COLORS = ("#d62728", "#ff7f0e", "#7f7f7f", "#17becf", "#2ca02c")


def _class_colors(classes: Sequence[str]) -> list[str]:
    if len(classes) == 3:
        return ["#d62728", "#7f7f7f", "#2ca02c"]
    return [_COLORS[i % len(_COLORS)] for i in range(len(classes))]


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def _charts(summary: dict[str, Any], histogram: list[dict], window_days: int) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = summary["classes"]
    colors = _class_colors(classes)
    trailing_name = f"trailing {window_days} days"
    charts: dict[str, bytes] = {}

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    rows = [r for r in summary["class_distribution"] if r["label"] in classes]
    x = np.arange(len(rows))
    for offset, (key, name) in enumerate((("day_share", summary["date"]), ("trailing_share", trailing_name), ("training_share", "training data"))):
        ax.bar(x + (offset - 1) * 0.27, [row[key] or 0 for row in rows], width=0.27, label=name)
    ax.set_xticks(x, [r["label"] for r in rows])
    ax.set_ylabel("share of reviews")
    ax.set_title("Predicted class distribution")
    ax.legend(fontsize=8)
    charts["class_distribution.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    trend = summary["trend"]
    if trend:
        days = [dt.date.fromisoformat(row["day"]) for row in trend]
        for label, color in zip(classes, colors, strict=True):
            ax.plot(days, [row["shares"].get(label, 0.0) for row in trend], marker="o", color=color, label=label)
        ax.plot(days, [row["strongly_negative_share"] for row in trend], linestyle="--", color=colors[0], label="strongly negative")
        ax.plot(days, [row["strongly_positive_share"] for row in trend], linestyle="--", color=colors[-1], label="strongly positive")
        ax.legend(fontsize=7, ncol=2)
        fig.autofmt_xdate()
    ax.set_ylabel("share of the day's reviews")
    ax.set_title("Sentiment trend")
    charts["sentiment_trend.png"] = _png(fig)

    hists = summary["probability_histograms"]
    fig, axes = plt.subplots(1, len(classes), figsize=(2.2 * len(classes) + 0.6, 2.8), sharey=True)
    centers = (np.arange(monitoring.PROBABILITY_BINS) + 0.5) / monitoring.PROBABILITY_BINS
    for ax, label in zip(np.atleast_1d(axes), classes, strict=True):
        for period, style in (("day", "-"), ("trailing", "--"), ("training", ":")):
            counts = (hists.get(period) or {}).get(label)
            if counts and sum(counts):
                ax.plot(centers, np.asarray(counts) / sum(counts), style, marker=".", label=period)
        ax.set_title(f"p({label})", fontsize=9)
        ax.set_xlabel("probability", fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("share of reviews")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle("Predicted probability distributions", fontsize=10)
    charts["probability_histograms.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    quality_trend = summary["live_quality"].get("trend") or []
    if quality_trend:
        days = [dt.date.fromisoformat(row["day"]) for row in quality_trend]
        for label, color in zip(classes, colors, strict=True):
            ax.plot(days, [np.nan if row["f1"].get(label) is None else row["f1"][label] for row in quality_trend], marker="o", color=color, label=f"F1 {label}")
        ax.plot(days, [row["macro_f1"] for row in quality_trend], color="black", linewidth=2, label="macro-F1")
        ax.legend(fontsize=7, ncol=2)
        ax.set_ylim(0, 1)
        fig.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "no star ratings in the window", ha="center", va="center")
    ax.set_title("Live quality against star ratings")
    charts["live_quality_trend.png"] = _png(fig)

    health = summary["input_health"]
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    edges = monitoring.LENGTH_EDGES
    names = [f"{a}-{b - 1}" if b - a > 1 else str(a) for a, b in zip(edges, edges[1:], strict=False)] + [f"{edges[-1]}+"]
    x = np.arange(len(names))
    for offset, (period, name) in enumerate((("day", summary["date"]), ("trailing", trailing_name), ("training", "training data"))):
        stats = health.get(period)
        if stats and stats.get("length_histogram"):
            counts = np.asarray(stats["length_histogram"], dtype=float)
            ax.bar(x + (offset - 1) * 0.27, counts / counts.sum(), width=0.27, label=name)
    ax.set_xticks(x, names, rotation=45, fontsize=7)
    ax.set_xlabel("tokens per review")
    ax.set_ylabel("share of reviews")
    ax.set_title("Review length")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    charts["length_distribution.png"] = _png(fig)

    drift = summary["text_drift"]
    if drift:
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        tokens = drift["day_tokens"][:10][::-1] + drift["reference_tokens"][:10][::-1]
        ax.barh([t["token"] for t in tokens], [t["weight"] for t in tokens], color=["#1f77b4" if t["weight"] > 0 else "#aaaaaa" for t in tokens])
        ax.set_xlabel("domain-classifier weight (> 0: today, < 0: reference window)")
        ax.set_title(f"Tokens that separate today from the reference (AUC {drift['auc']:.2f})", fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
        charts["text_drift_tokens.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    if histogram:
        ax.bar(
            [row["bin_start"] for row in histogram], [row["reviews"] for row in histogram], width=0.045, align="edge", color=["#ff7f0e" if row["low_confidence"] else "#1f77b4" for row in histogram]
        )
    ax.set_xlabel("confidence (top class probability); orange = low")
    ax.set_ylabel("reviews")
    ax.set_title("Confidence")
    charts["confidence_histogram.png"] = _png(fig)

    confusion = summary["live_quality"].get("confusion_matrix")
    if confusion:
        charts["live_confusion_matrix.png"] = _confusion_png(np.asarray(confusion), classes, f"Predicted vs stars, {summary['date']}")
    return charts


def _confusion_png(counts: np.ndarray, classes: Sequence[str], title: str) -> bytes:
    import matplotlib.pyplot as plt

    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.4, 3.8))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (stars)")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(j, i, f"{counts[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center", color="white" if shares[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(title, fontsize=10)
    return _png(fig)


# --- tables --------------------------------------------------------------------------------
def _table_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _table_md(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_none_\n"
    head = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    return head + "".join("| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row.values()) + " |\n" for row in rows)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _empty_day_report(root: DataRoot, day: dt.date, model_version: str | None) -> dict[str, Any]:
    """A report that says plainly that nothing was scored for ``day``, and an alert."""
    message = f"no reviews for {day.isoformat()}"
    alerts = [{"kind": "no_reviews", "name": "reviews", "value": 0.0, "threshold": 1.0, "message": message}]
    summary = {"date": day.isoformat(), "reviews": 0, "message": message, "model_version": model_version, "alerts": alerts}
    note = f"<h1>Review sentiment, {day}</h1><p>No reviews for {day}: nothing was scored.</p>"
    root.fs.pipe_file(root.report_file(day, "report.html"), f"<!doctype html><meta charset='utf-8'><title>{day}</title>{note}".encode())
    root.fs.pipe_file(root.report_file(day, "report.md"), f"# Review sentiment, {day}\n\nNo reviews for {day}: nothing was scored.\n".encode())
    root.write_json_atomic(root.report_file(day, "summary.json"), summary)
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
            {"day": when.isoformat(), "rated_reviews": int(by_day[when].sum()), "macro_f1": _macro_f1_present(quality), "f1": {q["class"]: q["f1"] if q["support"] else None for q in quality}}
        )
    confusion = by_day.get(day)
    if confusion is None or confusion.sum() == 0:
        return {"rated_reviews": 0, "trend": trend}
    per_class = monitoring.per_class_quality(confusion, classes)
    return {
        "rated_reviews": int(confusion.sum()),
        "macro_f1": _macro_f1_present(per_class),
        "accuracy": float(np.trace(confusion) / confusion.sum()),
        "classes_present": [q["class"] for q in per_class if q["support"]],
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "trend": trend,
    }


def _macro_f1_present(per_class: list[dict[str, Any]]) -> float:
    """Macro-F1 over the classes the stars contain (a day without 3-star reviews has no
    neutral class to get right)."""
    present = [q["f1"] for q in per_class if q["support"]]
    return float(np.mean(present)) if present else 0.0


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
    low_confidence: float = 0.6,
    top_products: int = 10,
) -> dict[str, Any]:
    """Run every report query and check for ``day`` and write report.html (one
    self-contained file), report.md, the chart PNGs and summary.json under
    ``<root>/reports/date=D/``. Returns the summary, with its ``alerts``."""
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
        products = queries.run("top_negative_products", min_support=min_support, limit=top_products)
        histogram = queries.run("confidence_histogram", low_confidence=low_confidence)
        live = _live_quality(queries.run("live_quality"), day, classes)
        drift, histograms = _drift(distribution, queries.run("probability_histograms"), classes, model)
        lap("queries")
        worst = _worst_reviews(queries, products[:3], thresholds)
        measurable = model.vocabulary is not None and model.max_length is not None
        stats = monitoring.InputStatsAccumulator(model.vocabulary, model.max_length, thresholds.short_review_tokens) if measurable else None
        # One streaming pass: a 1M-review day's texts held at once cost ~500 MB more.
        day_sample, worst_texts = scan_day_texts(root, day, thresholds.text_sample_rows, {row["review_id"] for row in worst}, stats)
        reference_texts = read_window_texts(root, day, window_days, thresholds.text_sample_rows)
        lap("read texts and input statistics")
        health = _input_health(stats, reference_texts, model, thresholds)
        lap("input health")
        text = monitoring.text_drift(day_sample.to_pylist(), reference_texts.to_pylist())
        lap("text drift")
        explanations = _explanations([{**row, "text": worst_texts.get(row["review_id"])} for row in worst], products[:3], classes, model, thresholds)
        lap("explanations")
    today = trend[-1] if trend and trend[-1]["day"] == day.isoformat() else None
    strong = {
        "rule": ("predicted 1 star / 5 stars (the model's own classes)" if has_stars else f"p({classes[0]}) >= {thresholds.strong_probability} / p({classes[-1]}) >= {thresholds.strong_probability}"),
        "strongly_negative_share": today["strongly_negative_share"] if today else None,
        "strongly_positive_share": today["strongly_positive_share"] if today else None,
    }
    health_reference, health_reference_name = (health.get("training"), "training") if health.get("training") else (health.get("trailing"), f"trailing {window_days} days")
    alerts = (
        monitoring.drift_alerts(drift, thresholds)
        + monitoring.text_drift_alerts(text, thresholds)
        + monitoring.input_health_alerts(health.get("day") or {}, health_reference, health_reference_name, thresholds)
        + monitoring.quality_alerts(live, model.test_metrics, thresholds)
    )
    summary = {
        "date": day.isoformat(),
        "reviews": int(queries.day_rows),
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
        "low_confidence_threshold": low_confidence,
        "live_quality": live,
        "model_test_quality": _test_quality(model.test_metrics, classes),
        "input_health": health,
        "text_drift": text,
        "explanations": explanations,
        "top_negative_products": products,
        "trend": trend,
        "thresholds": thresholds.model_dump(),
        "alerts": alerts,
    }
    charts = _charts(summary, histogram, window_days)
    lap("charts")
    for name, data in charts.items():
        root.fs.pipe_file(root.report_file(day, name), data)
    report_html = root.uri(root.report_file(day, "report.html"))
    root.fs.pipe_file(root.report_file(day, "report.html"), render_html(summary, charts).encode())
    root.fs.pipe_file(root.report_file(day, "report.md"), _render_md(summary, {name: name for name in charts}).encode())
    summary["timings_seconds"] = {**timings, "write": time.perf_counter() - clock}
    root.write_json_atomic(root.report_file(day, "summary.json"), summary)
    return {
        **summary,
        "tables": {"class_distribution": distribution, "top_negative_products": products, "live_quality_per_class": live.get("per_class") or [], "input_health": health["rows"], "alerts": alerts},
        "charts": {name: charts[name] for name in KEY_CHARTS if name in charts},
        "report_html": report_html,
    }


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


# --- rendering -------------------------------------------------------------------------------
def _headline(summary: dict[str, Any]) -> list[str]:
    window = f"trailing {summary['window_days']} days"
    shares = ", ".join(f"{row['label']} {row['day_share']:.1%}" for row in summary["class_distribution"])
    drift = summary["drift"]["class_shares"]
    lines = [
        f"{summary['reviews']:,} reviews scored with model {summary['model_version']}",
        shares + (f" (outside the classes: {summary['other_labels']})" if summary["other_labels"] else ""),
        "class-share drift: "
        + "; ".join(f"vs {name}: PSI {m['psi']:.3f}, JS {m['js_distance']:.3f}" if m else f"vs {name}: unavailable" for name, m in ((window, drift["trailing"]), ("training", drift["training"]))),
        f"strongly negative {_pct(summary['strong_sentiment']['strongly_negative_share'])}, strongly positive {_pct(summary['strong_sentiment']['strongly_positive_share'])} ({summary['strong_sentiment']['rule']})",
        f"low-confidence share (< {summary['low_confidence_threshold']}): {summary['low_confidence_share']:.1%}",
    ]
    live = summary["live_quality"]
    if live["rated_reviews"]:
        per_class = ", ".join(f"{q['class']} {q['f1']:.3f}" for q in live["per_class"])
        lines.append(f"live quality against {live['rated_reviews']:,} star ratings: macro-F1 {live['macro_f1']:.4f} over the classes present (F1 {per_class}), accuracy {live['accuracy']:.4f}")
    if summary["text_drift"]:
        lines.append(f"text drift (domain classifier AUC, day vs {window}): {summary['text_drift']['auc']:.3f}")
    lines.append(f"alerts: {len(summary['alerts'])}" + (" — " + "; ".join(a["message"] for a in summary["alerts"][:5]) if summary["alerts"] else ""))
    return lines


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _drift_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    drift = summary["drift"]
    rows = []
    for reference in ("trailing", "training"):
        measured = drift["class_shares"][reference]
        rows.append({"measure": "class shares", "reference": reference, "psi": measured and measured["psi"], "js_distance": measured and measured["js_distance"]})
        for label, m in (drift["probabilities"][reference] or {}).items():
            rows.append({"measure": f"p({label}) histogram", "reference": reference, "psi": m["psi"], "js_distance": m["js_distance"]})
    return rows


def _sections(summary: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]], list[str], str]]:
    """(anchor, title, table rows, chart names, note) of every section, in order: one list
    the HTML, the markdown and the tests share."""
    window = f"trailing {summary['window_days']} days"
    live = summary["live_quality"]
    drift_notes = "; ".join(f"{k}: {v}" for k, v in summary["drift"]["unavailable"].items())
    text = summary["text_drift"]
    text_rows = [] if not text else [{**t, "side": "today"} for t in text["day_tokens"]] + [{**t, "side": "reference"} for t in text["reference_tokens"]]
    explanations = summary["explanations"]
    explained = [
        {
            "product_id": r["product_id"],
            f"p({explanations.get('explained_class', '')})": r["p_most_negative"],
            "attention tokens": r["top_tokens"],
            "LIME words (weight)": [f"{w['token']} ({w['weight']:+.2f})" for w in r.get("lime", [])],
            "text": r["text"][:160],
        }
        for r in explanations["reviews"]
    ]
    cost = explanations.get("seconds_per_explanation")
    return [
        ("alerts", "Alerts", [{k: a[k] for k in ("kind", "name", "value", "threshold", "message")} for a in summary["alerts"]], [], f"thresholds: {summary['thresholds']}"),
        ("classes", "Class distribution", summary["class_distribution"], ["class_distribution.png"], f"shares among the model's classes; other labels: {summary['other_labels'] or 'none'}"),
        ("drift", "Drift (effect sizes)", _drift_rows(summary), ["probability_histograms.png"], f"PSI and Jensen-Shannon distance (base 2) vs the {window} and the training data. {drift_notes}"),
        (
            "strong",
            "Strongly negative / strongly positive",
            [{k: row[k] for k in ("day", "reviews", "strongly_negative_share", "strongly_positive_share")} for row in summary["trend"]],
            [],
            summary["strong_sentiment"]["rule"],
        ),
        (
            "quality",
            "Live quality against star ratings",
            live.get("per_class") or [],
            ["live_quality_trend.png", "live_confusion_matrix.png"],
            f"{live['rated_reviews']:,} rated reviews today; model's test split: " + ", ".join(f"{q['class']} F1 {q['f1']:.3f}" for q in summary["model_test_quality"]),
        ),
        ("input", "Input health", summary["input_health"]["rows"], ["length_distribution.png"], summary["input_health"].get("note") or f"day vs the {window} (sample) and the training data"),
        (
            "text-drift",
            "Text drift: what people write about",
            text_rows,
            ["text_drift_tokens.png"],
            f"domain classifier AUC {text['auc']:.3f} on {text['reviews_per_side']:,} reviews per side (day vs {window})"
            if text
            else "unavailable: too few reviews in the day or the reference window",
        ),
        (
            "explanations",
            "Why the worst reviews are negative",
            explained,
            [],
            (explanations.get("note") or "") + (f" LIME: {explanations['lime_samples']} perturbed texts each, {cost:.2f} s per explanation" if cost is not None else ""),
        ),
        (
            "stars",
            "Five classes: one per star",
            summary["star_view"],
            [],
            "the model's most probable star against the reviewers' stars (exact: both the same)"
            if summary["star_view"]
            else "the scoring model has three classes; a one-class-per-star model (`sentiment retrain --classes stars`) adds this view",
        ),
        ("products", "Products with the most negative reviews", summary["top_negative_products"], [], ""),
        ("trend", "Trend", [{k: v for k, v in row.items() if k != "shares"} for row in summary["trend"]], ["sentiment_trend.png", "confidence_histogram.png"], ""),
    ]


_STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}figure{display:inline-block;margin:.4em}img{max-width:480px}"
    ".note{color:#555;font-size:13px}"
)


def render_html(summary: dict[str, Any], charts: dict[str, bytes]) -> str:
    """One self-contained HTML file: charts embedded as base64 PNG, no external resource."""

    def figures(names: list[str]) -> str:
        return "".join(f"<figure><img alt='{name}' src='data:image/png;base64,{base64.b64encode(charts[name]).decode()}'/></figure>" for name in names if name in charts)

    items = "".join(f"<li>{html.escape(line)}</li>" for line in _headline(summary))
    body = "".join(
        f"<section id='{anchor}'><h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>{figures(names)}{_table_html(rows)}</section>"
        for anchor, title, rows, names, note in _sections(summary)
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Review sentiment {summary['date']}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Review sentiment, {summary['date']}</h1><ul>{items}</ul>{body}</body></html>"
    )


def _render_md(summary: dict[str, Any], images: dict[str, str]) -> str:
    """Markdown of every section; ``images`` maps a chart name to its URL (a file name
    beside report.md, or a data URI) and leaves out charts it does not name."""
    lines = [f"# Review sentiment, {summary['date']}", "", *[f"- {line}" for line in _headline(summary)], ""]
    for _, title, rows, names, note in _sections(summary):
        lines += [f"## {title}", ""]
        if note:
            lines += [f"_{note}_", ""]
        lines += [f"![{name}]({images[name]})" for name in names if name in images]
        lines += ["", _table_md(rows)]
    return "\n".join(lines)


def summary_markdown(summary: dict[str, Any]) -> str:
    """The report as a Prefect markdown artifact: the key charts inline (data URIs: the
    UI renders markdown images as plain <img> elements), tables, and where the full
    HTML report is."""
    if not summary.get("reviews"):
        return f"# Review sentiment, {summary['date']}\n\n{summary.get('message', 'no reviews')}\n"
    images = {name: f"data:image/png;base64,{base64.b64encode(data).decode()}" for name, data in (summary.get("charts") or {}).items()}
    return _render_md(summary, images) + f"\n\nFull HTML report (one self-contained file): `{summary.get('report_html', '')}`\n"
