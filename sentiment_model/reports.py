"""The nightly report: SQL files in ``sql/`` run by DuckDB over the scored Parquet, plus
drift statistics, live quality against the stars, charts, and HTML/markdown/JSON output."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import posixpath
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy import stats

from sentiment_model.layout import DataRoot
from sentiment_model.metrics import macro_f1, save_confusion_png
from sentiment_model.schema import LABELS, SCORED_SCHEMA
from sentiment_model.scoring import scored_files
from sentiment_model.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql"
_EPSILON = 1e-4


def load_sql(name: str, sql_dir: Path = SQL_DIR) -> str:
    return (sql_dir / f"{name}.sql").read_text(encoding="utf-8")


def population_stability_index(actual: np.ndarray, expected: np.ndarray) -> float:
    """PSI = sum((a - e) * ln(a / e)) over class shares (0.1: watch, 0.25: shifted)."""
    a = np.clip(np.asarray(actual, dtype=float), _EPSILON, None)
    e = np.clip(np.asarray(expected, dtype=float), _EPSILON, None)
    a, e = a / a.sum(), e / e.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def chi_square_p(counts: np.ndarray, expected_shares: np.ndarray) -> float | None:
    """p-value that the day's class counts follow the expected shares."""
    counts = np.asarray(counts, dtype=float)
    if counts.sum() == 0 or np.asarray(expected_shares).sum() == 0:
        return None
    expected = np.clip(np.asarray(expected_shares, dtype=float), _EPSILON, None)
    expected = expected / expected.sum() * counts.sum()
    return float(stats.chisquare(counts, expected).pvalue)


def _duckdb_path(root: DataRoot, path: str) -> str:
    return path if root.is_local else root.fs.unstrip_protocol(path)


class ReportQueries:
    """A DuckDB connection with the report's views defined over the scored Parquet."""

    def __init__(self, root: DataRoot, day: dt.date, window_days: int, training_counts: dict[str, int]) -> None:
        self.con = duckdb.connect()
        if not root.is_local:
            self.con.register_filesystem(root.fs)
        self.con.register("scored_empty", SCORED_SCHEMA.empty_table())
        day_files = scored_files(root, day)
        trailing = [day - dt.timedelta(days=i) for i in range(1, window_days + 1)]
        window_files = [f for d in trailing for f in scored_files(root, d)]
        self._view("scored_day", [_duckdb_path(root, f) for f in day_files])
        self._view("scored_window", [_duckdb_path(root, f) for f in window_files])
        trend = [_duckdb_path(root, f) for f in window_files + day_files]
        if trend:
            self.con.execute(
                "CREATE VIEW scored_trend AS SELECT *, CAST(regexp_extract(filename, 'date=([0-9-]{10})', 1) AS DATE) AS scored_date "
                f"FROM read_parquet({self._list(trend)}, filename = true)"
            )
        else:
            self.con.execute("CREATE VIEW scored_trend AS SELECT *, CAST(NULL AS DATE) AS scored_date FROM scored_empty")
        self.con.register("training_labels", pa.table({"label": list(training_counts), "n": list(training_counts.values())}))
        self.day_rows = self.con.execute("SELECT count(*) FROM scored_day").fetchone()[0]

    @staticmethod
    def _list(paths: list[str]) -> str:
        return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"

    def _view(self, name: str, paths: list[str]) -> None:
        source = f"read_parquet({self._list(paths)})" if paths else "scored_empty"
        self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM {source}")

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


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _charts(distribution: list[dict], trend: list[dict], histogram: list[dict], confusion: np.ndarray | None, day: dt.date) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: dict[str, bytes] = {}
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    x = np.arange(len(LABELS))
    for offset, (key, name) in enumerate((("day_share", str(day)), ("trailing_share", "trailing 30 days"), ("training_share", "training data"))):
        ax.bar(x + (offset - 1) * 0.27, [row[key] for row in distribution], width=0.27, label=name)
    ax.set_xticks(x, LABELS)
    ax.set_ylabel("share of reviews")
    ax.set_title("Predicted class distribution")
    ax.legend(fontsize=8)
    charts["class_distribution.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    if trend:
        days = [row["day"] for row in trend]
        for label, color in (("negative", "#d62728"), ("neutral", "#7f7f7f"), ("positive", "#2ca02c")):
            ax.plot(days, [row[label] / max(row["reviews"] - row["empty_text"], 1) for row in trend], marker="o", color=color, label=label)
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
    ax.set_ylabel("share of the day's reviews")
    ax.set_title("Sentiment trend")
    charts["sentiment_trend.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    if histogram:
        ax.bar([row["bin_start"] for row in histogram], [row["reviews"] for row in histogram], width=0.045, align="edge",
               color=["#ff7f0e" if row["low_confidence"] else "#1f77b4" for row in histogram])
    ax.set_xlabel("confidence (top class probability); orange = low")
    ax.set_ylabel("reviews")
    ax.set_title("Confidence")
    charts["confidence_histogram.png"] = _png(fig)

    if confusion is not None:
        buffer = io.BytesIO()
        save_confusion_png(confusion, buffer, f"Predicted vs stars, {day}")
        charts["live_confusion_matrix.png"] = buffer.getvalue()
    return charts


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
    return head + "".join("| " + " | ".join(_fmt(v) for v in row.values()) + " |\n" for row in rows)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _empty_day_report(root: DataRoot, day: dt.date, folder: str, model_version: str | None) -> dict[str, Any]:
    """A report that says plainly that nothing was scored for ``day``."""
    summary = {"date": day.isoformat(), "reviews": 0, "message": f"no reviews for {day.isoformat()}", "model_version": model_version}
    note = f"<h1>Review sentiment, {day}</h1><p>No reviews for {day}: nothing was scored.</p>"
    root.fs.pipe_file(posixpath.join(folder, "report.html"), f"<!doctype html><meta charset='utf-8'><title>{day}</title>{note}".encode())
    root.fs.pipe_file(posixpath.join(folder, "report.md"), f"# Review sentiment, {day}\n\nNo reviews for {day}: nothing was scored.\n".encode())
    root.write_json_atomic(posixpath.join(folder, "summary.json"), summary)
    return {**summary, "tables": {}, "report_html": root.uri(posixpath.join(folder, "report.html"))}


def build_report(
    root: DataRoot,
    day: dt.date,
    training_counts: dict[str, int],
    model_version: str | None,
    window_days: int = 30,
    min_support: int = 3,
    low_confidence: float = 0.6,
    top_products: int = 10,
) -> dict[str, Any]:
    """Run every report query for ``day`` and write report.html, report.md, the chart
    PNGs and summary.json under ``<root>/reports/date=D/``. Returns the summary."""
    with ReportQueries(root, day, window_days, training_counts) as queries:
        folder = root.reports_dir(day)
        root.fs.makedirs(folder, exist_ok=True)
        day_rows = queries.day_rows
        if day_rows == 0:
            return _empty_day_report(root, day, folder, model_version)
        distribution = queries.run("class_distribution")
        trend = queries.run("sentiment_trend")
        products = queries.run("top_negative_products", min_support=min_support, limit=top_products)
        histogram = queries.run("confidence_histogram", low_confidence=low_confidence)
        quality_rows = queries.run("live_quality")
        empty_text = int(queries.run("empty_text")[0]["empty_text"])

    day_counts = np.array([row["day_count"] for row in distribution], dtype=float)
    drift = {
        "psi_vs_trailing": population_stability_index(day_counts, [row["trailing_count"] for row in distribution]) if sum(r["trailing_count"] for r in distribution) else None,
        "psi_vs_training": population_stability_index(day_counts, [row["training_count"] for row in distribution]),
        "chi_square_p_vs_training": chi_square_p(day_counts, np.array([row["training_share"] for row in distribution])),
    }
    low_share = float(sum(row["share"] for row in histogram if row["low_confidence"]))
    confusion = None
    live: dict[str, Any] = {"rated_reviews": 0}
    if quality_rows:
        confusion = np.zeros((3, 3), dtype=np.int64)
        for row in quality_rows:
            confusion[LABELS.index(row["true_label"]), LABELS.index(row["predicted_label"])] += row["reviews"]
        y_true = np.repeat(np.repeat(np.arange(3), 3), confusion.ravel())
        y_pred = np.repeat(np.tile(np.arange(3), 3), confusion.ravel())
        present = np.bincount(y_true, minlength=3) > 0
        live = {
            "rated_reviews": int(confusion.sum()),
            "macro_f1": macro_f1(y_true, y_pred),
            "accuracy": float(np.trace(confusion) / confusion.sum()),
            "classes_present": [LABELS[i] for i in np.flatnonzero(present)],
            "confusion_matrix": confusion.tolist(),
        }
    charts = _charts(distribution, trend, histogram, confusion, day)
    summary = {
        "date": day.isoformat(),
        "reviews": int(day_rows),
        "model_version": model_version,
        "class_distribution": distribution,
        "empty_text": empty_text,  # reviews = sum of the day_counts + empty_text
        "drift": drift,
        "low_confidence_share": low_share,
        "low_confidence_threshold": low_confidence,
        "live_quality": live,
        "top_negative_products": products,
        "trend": [{**row, "day": row["day"].isoformat()} for row in trend],
    }
    for name, data in charts.items():
        root.fs.pipe_file(posixpath.join(folder, name), data)
    root.fs.pipe_file(posixpath.join(folder, "report.html"), _render_html(summary, charts).encode())
    root.fs.pipe_file(posixpath.join(folder, "report.md"), _render_md(summary, charts).encode())
    root.write_json_atomic(posixpath.join(folder, "summary.json"), summary)
    return {**summary, "tables": {"class_distribution": distribution, "top_negative_products": products}, "report_html": root.uri(posixpath.join(folder, "report.html"))}


def _headline(summary: dict[str, Any]) -> list[str]:
    shares = {row["label"]: row["day_share"] for row in summary["class_distribution"]}
    lines = [
        f"{summary['reviews']:,} reviews scored with model {summary['model_version']}",
        f"negative {shares['negative']:.1%}, neutral {shares['neutral']:.1%}, positive {shares['positive']:.1%}"
        + (f" ({summary['empty_text']:,} reviews without any token, labelled empty_text, are in no class)" if summary.get("empty_text") else ""),
        f"drift: PSI vs trailing 30 days {_fmt(summary['drift']['psi_vs_trailing'])}, vs training {summary['drift']['psi_vs_training']:.4f} (chi-square p {_fmt(summary['drift']['chi_square_p_vs_training'])})",
        f"low-confidence share (< {summary['low_confidence_threshold']}): {summary['low_confidence_share']:.1%}",
    ]
    live = summary["live_quality"]
    if live["rated_reviews"]:
        lines.append(f"live quality against {live['rated_reviews']:,} star ratings: macro-F1 {live['macro_f1']:.4f}, accuracy {live['accuracy']:.4f} (classes present: {', '.join(live['classes_present'])})")
    return lines


def _render_html(summary: dict[str, Any], charts: dict[str, bytes]) -> str:
    images = "".join(
        f"<figure><img alt='{name}' src='data:image/png;base64,{base64.b64encode(data).decode()}'/></figure>" for name, data in charts.items()
    )
    items = "".join(f"<li>{html.escape(line)}</li>" for line in _headline(summary))
    style = "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}figure{display:inline-block;margin:.5em}img{max-width:460px}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Review sentiment {summary['date']}</title><style>{style}</style></head><body>"
        f"<h1>Review sentiment, {summary['date']}</h1><ul>{items}</ul>{images}"
        f"<h2>Class distribution</h2>{_table_html(summary['class_distribution'])}"
        f"<h2>Products with the most negative reviews</h2>{_table_html(summary['top_negative_products'])}"
        f"<h2>Trend</h2>{_table_html(summary['trend'])}</body></html>"
    )


def _render_md(summary: dict[str, Any], charts: dict[str, bytes]) -> str:
    lines = [f"# Review sentiment, {summary['date']}", "", *[f"- {line}" for line in _headline(summary)], ""]
    lines += [f"![{name}]({name})" for name in charts]
    lines += ["", "## Class distribution", "", _table_md(summary["class_distribution"]), "## Products with the most negative reviews", "", _table_md(summary["top_negative_products"])]
    return "\n".join(lines)


def summary_markdown(summary: dict[str, Any]) -> str:
    """The report as a Prefect markdown artifact (text and tables; charts stay in the HTML)."""
    if not summary.get("reviews"):
        return f"# Review sentiment, {summary['date']}\n\n{summary.get('message', 'no reviews')}\n"
    return _render_md({**summary}, {}) + f"\n\nHTML report: `{summary.get('report_html', '')}`\n"
