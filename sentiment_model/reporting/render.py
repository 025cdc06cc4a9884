"""The report as a person reads it: the headline, the sections (one list the HTML, the
markdown and the tests share), self-contained HTML, and markdown for the Prefect UI.

The markdown goes into the Prefect UI, whose tables do not wrap: its cells are cut to
:data:`MARKDOWN_CELL_CHARS` (the HTML keeps them whole) and long texts go in lists."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

from sentiment_model.reporting.incidents import headline as incidents_headline

#: Longest table cell in the markdown artifact; the HTML report keeps the whole text.
MARKDOWN_CELL_CHARS = 60
#: (anchor, title, table rows, chart names, note) of one section.
Section = tuple[str, str, list[dict[str, Any]], list[str], str]


# --- tables ------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _cut(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _table_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='note'>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _table_md(rows: list[dict[str, Any]], cell_chars: int | None = MARKDOWN_CELL_CHARS) -> str:
    if not rows:
        return "none\n"
    head = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    return head + "".join("| " + " | ".join(_cut(_fmt(v), cell_chars).replace("|", "\\|").replace("\n", " ") for v in row.values()) + " |\n" for row in rows)


def signal_rows(signals: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The monitor's table: every measure with its value, threshold and chance level."""
    return [{"measure": s["measure"], "vs": s["reference"], "value": s["value"], "threshold": s["threshold"], "chance": s["chance_level"], "fired": s["fired"]} for s in signals]


def _class_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Shares side by side, few columns (the counts are in the table artifact)."""
    return [{"class": r["label"], "reviews": r["day_count"], "share": r["day_share"], "trailing": r["trailing_share"], "training": r["training_share"]} for r in summary["class_distribution"]]


# --- content -----------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _headline(summary: dict[str, Any]) -> list[str]:
    shares = ", ".join(f"{row['label']} {row['day_share']:.1%}" for row in summary["class_distribution"])
    lines = [
        f"monitor: {incidents_headline(summary['incidents'])}",
        f"{summary['reviews']:,} reviews scored with model {summary['model_version']}",
        shares + (f" (outside the classes: {summary['other_labels']})" if summary["other_labels"] else ""),
        f"strongly negative {_pct(summary['strong_sentiment']['strongly_negative_share'])}, strongly positive {_pct(summary['strong_sentiment']['strongly_positive_share'])}",
        f"low-confidence share (< {summary['low_confidence_threshold']}): {summary['low_confidence_share']:.1%}",
    ]
    if summary.get("skipped_files"):
        lines.append(f"{len(summary['skipped_files'])} damaged file(s) of past nights left out of the trailing window (see 'Files left out')")
    live = summary["live_quality"]
    if live["rated_reviews"]:
        lines.append(f"live quality against {live['rated_reviews']:,} star ratings: macro-F1 {live['macro_f1']:.4f} over the classes present, accuracy {live['accuracy']:.4f}")
    return lines


def _incident_lines(summary: dict[str, Any]) -> list[str]:
    """One line per incident (lists wrap in the UI; tables do not)."""
    return [f"**{i['severity']}** ({i['status']}, night {i['age_nights']}): {i['message']}" for i in summary["incidents"]]


def _settings_note(summary: dict[str, Any]) -> str:
    t = summary["thresholds"]
    return (
        f"A signal fires when its value is at or above its threshold and above its chance level: the {t['chance_quantile']:.2%} "
        f"quantile of the measure when nothing changed, at tonight's size. Fired signals of one kind are one incident; "
        f"a new incident pages when it is about live quality or its strongest signal is {t['page_ratio']:g}x its threshold, "
        "and warns otherwise; an incident seen on an earlier night continues (info)."
    )


def _sections(summary: dict[str, Any]) -> list[Section]:
    """Every section, in order: one list the HTML, the markdown and the tests share."""
    window = f"trailing {summary['window_days']} days"
    live = summary["live_quality"]
    text = summary["text_drift"]
    text_rows = [] if not text else [{**t, "side": "today"} for t in text["day_tokens"]] + [{**t, "side": "reference"} for t in text["reference_tokens"]]
    explanations = summary["explanations"]
    explained = [
        {
            "product_id": r["product_id"],
            f"p({explanations.get('explained_class', '')})": r["p_most_negative"],
            "attention tokens": r["top_tokens"][:3],
            "LIME words": [f"{w['token']} ({w['weight']:+.2f})" for w in r.get("lime", [])[:3]],
            "text": r["text"],
        }
        for r in explanations["reviews"]
    ]
    cost = explanations.get("seconds_per_explanation")
    incident_rows = [{"severity": i["severity"], "status": i["status"], "night": i["age_nights"], "since": i["first_seen"], "what": i["title"]} for i in summary["incidents"]]
    sections: list[Section] = [
        ("incidents", "Incidents", incident_rows, [], incidents_headline(summary["incidents"])),
        ("monitor", "Monitor: every signal, its threshold and its chance level", signal_rows(summary["signals"]), [], _settings_note(summary)),
        *_skipped_section(summary),
        (
            "classes",
            "Class distribution",
            _class_rows(summary),
            ["class_distribution.png"],
            f"shares among the model's classes today, over the {window} and in the model's training data; other labels: {summary['other_labels'] or 'none'}",
        ),
        (
            "drift",
            "Predicted probabilities",
            signal_rows([s for s in summary["signals"] if s["kind"] == "predictions"]),
            ["probability_histograms.png"],
            f"each class's probability today, over the {window} and on the model's validation split; the monitor's prediction signals",
        ),
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
            " ".join(
                part
                for part in ((explanations.get("note") or "").strip(), f"LIME: {explanations['lime_samples']} perturbed texts each, {cost:.2f} s per explanation." if cost is not None else "")
                if part
            ),
        ),
    ]
    if summary["star_view"]:  # only a one-class-per-star model has this view
        sections.append(("stars", "Five classes: one per star", summary["star_view"], [], "the model's most probable star against the reviewers' stars (exact: both the same)"))
    sections += [
        (
            "products",
            "Products with the largest share of negative reviews",
            summary["top_negative_products"],
            [],
            f"ranked by negative share, then count; products with at least {summary.get('min_support', 1)} reviews today",
        ),
        ("trend", "Trend", [{k: v for k, v in row.items() if k != "shares"} for row in summary["trend"]], ["sentiment_trend.png", "confidence_histogram.png"], ""),
    ]
    return sections


def _skipped_section(summary: dict[str, Any]) -> list[Section]:
    """Damaged files of past nights the trailing window left out (none: no section)."""
    skipped = summary.get("skipped_files") or []
    if not skipped:
        return []
    note = "these files of earlier nights cannot be read (truncated or damaged) and were left out of the trailing window; rescore or restore those nights to bring them back"
    return [("skipped", "Files left out", [{"file": s["file"], "reason": s["reason"]} for s in skipped], [], note)]


# --- output ------------------------------------------------------------------------------
_STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;max-width:420px;overflow-wrap:anywhere}th{background:#f3f3f3}figure{display:inline-block;margin:.4em}img{max-width:480px}"
    ".note{color:#555;font-size:13px}.page{color:#b00;font-weight:bold}.warning{color:#b60}"
)


def render_html(summary: dict[str, Any], charts: dict[str, bytes]) -> str:
    """One self-contained HTML file: charts embedded as base64 PNG, no external resource."""

    def figures(names: list[str]) -> str:
        return "".join(f"<figure><img alt='{name}' src='data:image/png;base64,{base64.b64encode(charts[name]).decode()}'/></figure>" for name in names if name in charts)

    items = "".join(f"<li>{html.escape(line)}</li>" for line in _headline(summary))
    incidents = "".join(
        f"<li class='{i['severity']}'>{html.escape(i['severity'])} ({html.escape(i['status'])}, night {i['age_nights']}): {html.escape(i['message'])}</li>" for i in summary["incidents"]
    )
    body = "".join(
        f"<section id='{anchor}'><h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>"
        + (f"<ul>{incidents}</ul>" if anchor == "incidents" and incidents else "")
        + f"{figures(names)}{_table_html(rows)}</section>"
        for anchor, title, rows, names, note in _sections(summary)
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Review sentiment {summary['date']}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Review sentiment, {summary['date']}</h1><ul>{items}</ul>{body}</body></html>"
    )


def render_markdown(summary: dict[str, Any], images: dict[str, str], report_link: str | None = None) -> str:
    """Markdown of every section; ``images`` maps a chart name to its URL (a file name
    beside report.md, or a data URI) and leaves out charts it does not name."""
    lines = [f"# Review sentiment, {summary['date']}", "", *[f"- {line}" for line in _headline(summary)], ""]
    if report_link:
        lines += [f"Full HTML report: {report_link}", ""]
    for anchor, title, rows, names, note in _sections(summary):
        lines += [f"## {title}", ""]
        if note:
            lines += [note, ""]
        if anchor == "incidents":
            lines += [f"- {line}" for line in _incident_lines(summary)] + [""]
        if anchor == "skipped":  # whole paths: the table's cells are cut
            lines += [f"- `{s['file']}`" for s in summary["skipped_files"]] + [""]
        lines += [f"![{name}]({images[name]})" for name in names if name in images]
        lines += ["", _table_md(rows)]
    return "\n".join(lines)


def summary_markdown(summary: dict[str, Any]) -> str:
    """The report as a Prefect markdown artifact: every chart inline (data URIs: the UI
    renders markdown images as plain <img> elements), the tables, and where the full HTML
    report is."""
    if not summary.get("reviews"):
        return f"# Review sentiment, {summary['date']}\n\n{summary.get('message', 'no reviews')}\n"
    images = {name: f"data:image/png;base64,{base64.b64encode(data).decode()}" for name, data in (summary.get("charts") or {}).items()}
    return render_markdown(summary, images, summary.get("report_html"))
