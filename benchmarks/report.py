"""Regenerate the measured part of docs/benchmarks.md from benchmarks/results/*.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from benchmarks.common import PROJECT_ROOT, RESULTS_DIR

DOC = PROJECT_ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- measured:begin -->", "<!-- measured:end -->"
TARGETS = {
    "scoring": "target: >= 3,000 reviews/s and >= 2.5x the seed style",
    "ingest": "target: >= 50 MB/s of gzip JSON lines per core, and faster than pandas",
    "tokenize": "target: >= 10x the seed-style Keras Tokenizer",
    "quality": "target (issue 10): the default BiLSTM above TF-IDF+LR trained on the same rows by >= 0.02 test macro-F1, the interval of the difference above 0 (issue 5 asked >= 0.03)",
    "cross-source": "target (issue 10): as for quality, on every held-out source family",
    "report": "target: the report and its artifacts for a 200,000-review day (30-day trailing window) in under a minute on 2 cores",
    "load": "target: a nightly day of 1,000,000 reviews scored under 2 GB peak memory (VmHWM of the flow's process)",
    "monitoring": "target (issue 31): at most 1 false incident per 30 stable nights at every night size; every injected incident detected on its first night, or the table says why not",
    "serving": "target on 2 cores: >= 1,000 reviews/s at 64 clients, p99 < 100 ms at 8 clients",
}


def _fmt(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, float) for v in value):
        return "[" + ", ".join(f"{v:+.4f}" if abs(v) < 1 else f"{v:,.0f}" for v in value) + "]"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def _table(rows: list[dict[str, Any]]) -> str:
    rows = [{k: v for k, v in row.items() if not k.endswith("runs") and k != "line" and not isinstance(v, dict)} for row in rows]
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for row in rows for k in row))  # rows may differ (VADER has no baseline)
    return "\n".join(["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys), *["| " + " | ".join(_fmt(row.get(k, "")) for k in keys) + " |" for row in rows]])


def render() -> Path:
    sections = []
    for path in sorted(RESULTS_DIR.glob("*.json")):
        if path.stem.endswith("-quick"):
            continue
        result = orjson.loads(path.read_bytes())
        m = result["machine"]
        lines = [
            f"### {path.stem}",
            "",
            f"`{result['command']}` ({result['seconds']:.0f} s; {m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB, GPU: {m['gpu'] or 'none'}; Keras backend {m['keras_backend']}; {m['date']})",
            "",
        ]
        if path.stem in TARGETS:
            lines += [f"_{TARGETS[path.stem]}_", ""]
        lines.append(_table(result.get("rows", [])))
        for key, value in result.items():
            if key.endswith("_rows") and isinstance(value, list):
                lines += ["", f"{key.removesuffix('_rows')}:", "", _table(value)]
        extras = {k: v for k, v in result.items() if k not in ("rows", "machine", "benchmark", "command", "seconds") and not isinstance(v, (list, dict))}
        if extras:
            lines += ["", *[f"- {k}: {_fmt(v)}" for k, v in extras.items()]]
        sections.append("\n".join(lines))
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n\n" + "\n\n".join(sections) + f"\n\n{END}{tail}", encoding="utf-8")
    return DOC
