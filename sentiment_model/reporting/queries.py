"""The report's queries: DuckDB over the scored Parquet of the day and its trailing window,
every query (and every view the queries read) one file in ``sql/``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from sentiment_model.core.layout import DAY_FOLDER_PATTERN, DataRoot
from sentiment_model.core.parquet_parts import parquet_footer, readable_parts
from sentiment_model.core.schema import LABELS, SCORED_SCHEMA
from sentiment_model.core.settings import bundled_path
from sentiment_model.reporting.context import star_classes
from sentiment_model.scoring.batch import scored_files


def load_sql(name: str, sql_dir: Path | None = None) -> str:
    """A report query from ``sql/`` (the checkout's, or the installed wheel's)."""
    return ((sql_dir or bundled_path("sql")) / f"{name}.sql").read_text(encoding="utf-8")


def _duckdb_path(root: DataRoot, path: str) -> str:
    return path if root.is_local else root.fs.unstrip_protocol(path)


def _sql_strings(values: Sequence[str]) -> str:
    """SQL string literals, comma separated (quotes doubled)."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


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
        trend = [_duckdb_path(root, f) for f in window_files + day_files]
        if trend:
            self._define("scored_trend_raw_view", paths=self._list(trend), day_folder_pattern=DAY_FOLDER_PATTERN)
        else:
            self._define("scored_trend_raw_empty_view")
        flags = {"p_first": f'"p_{self.classes[0]}"', "p_last": f'"p_{self.classes[-1]}"', "strong_probability": strong_probability}
        for name in ("scored_day", "scored_window", "scored_trend"):
            self._define("strong_sentiment_view", name=name, source=f"{name}_raw", **flags)
        columns = ", ".join(f'"p_{c}"' for c in self.classes)
        self._define("scored_probabilities_view", columns=columns, decided=f"predicted_label IN ({_sql_strings(self.classes)})")
        counts = training_counts or {}
        self.con.register("training_labels", pa.table({"label": pa.array(list(counts), pa.string()), "n": pa.array(list(counts.values()), pa.int64())}))
        stars = star_classes(self.classes) or {}
        self.con.register("star_labels", pa.table({"rating": pa.array(list(stars), pa.int8()), "label": pa.array(list(stars.values()), pa.string())}))
        negative = sorted({stars[1], stars[2]}) if stars else [self.classes[0]]
        self.con.register("negative_labels", pa.table({"label": pa.array(negative, pa.string())}))
        (rows,) = self.run("day_rows")
        self.day_rows, self.has_stars = rows["reviews"], rows["star_predictions"] > 0

    def _probability_classes(self) -> tuple[str, ...]:
        """The model's classes, from the scored files' ``p_<class>`` columns, in order."""
        names = [row[0] for row in self.con.execute("DESCRIBE scored_day_raw").fetchall()]
        classes = tuple(name[2:] for name in names if name.startswith("p_"))
        return classes or LABELS

    @staticmethod
    def _list(paths: list[str]) -> str:
        return f"[{_sql_strings(paths)}]"

    def _define(self, sql_file: str, /, **fields: Any) -> None:
        """Run a view's file from ``sql/`` with its names (columns, views, paths) filled in:
        DuckDB takes no parameters in a view."""
        self.con.execute(load_sql(sql_file).format(**fields))

    def _view(self, name: str, paths: list[str], empty: str) -> None:
        if paths:
            self._define("view_of_parts", name=name, paths=self._list(paths))
        else:
            self._define("view_of_nothing", name=name, source=empty)

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
