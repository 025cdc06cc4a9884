"""Source specifications: what a raw dump looks like and how its fields map to the canonical schema.

A sources manifest (TOML) lists entries; each names a ``preset`` (a known public format)
and may override any field. Presets live here and nowhere else.
"""

from __future__ import annotations

import codecs
import posixpath
import tomllib
from pathlib import Path
from typing import Any, Literal

import fsspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ReaderKind = Literal["json_lines", "csv", "snap_text"]
TimeFormat = str  # "unix_s", "unix_ms", "iso8601", or a strptime pattern such as "%Y-%m-%d"


class ColumnMapping(BaseModel):
    """Raw field name for each canonical column (``None``: the dump has no such field)."""

    model_config = ConfigDict(extra="forbid")

    product_id: str | None = None
    reviewer_id: str | None = None
    rating: str
    title: str | None = None
    text: str | None = None
    review_time: str | None = None

    @model_validator(mode="after")
    def _needs_some_text(self) -> ColumnMapping:
        if self.title is None and self.text is None:
            raise ValueError("a source must map at least one of title or text")
        return self


class SourceSpec(BaseModel):
    """One manifest entry: where the files are and how to read them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short name used in reports and quarantine file names.")
    uri: str = Field(description="File, folder or glob; relative paths are under the manifest's base_uri.")
    reader: ReaderKind
    columns: ColumnMapping
    time_format: TimeFormat | None = None
    encoding: str = "utf-8"
    # Dedup: records with equal (dedup_namespace, dedup fields) are one review; the key
    # is also what review_id hashes, so the same review gets the same id in every file.
    dedup_namespace: str
    dedup_fields: list[str] | Literal["*"]
    dedup_exclude: list[str] = Field(default_factory=list, description="Columns left out of a '*' key.")
    dedup_normalize: Literal["none", "lower_alnum"] = "none"
    # CSV-only options
    delimiter: str = ","
    quoting: bool = True
    header: bool = True
    column_names: list[str] | None = Field(default=None, description="Column names for a header-less CSV.")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        if self.reader == "csv" and not self.header and not self.column_names:
            raise ValueError(f"source {self.name!r}: a header-less CSV needs column_names")
        if self.columns.review_time and not self.time_format:
            raise ValueError(f"source {self.name!r}: review_time is mapped, so time_format is required")
        return self

    def mapped_fields(self) -> list[str]:
        """Raw fields the canonical mapping reads."""
        values = self.columns.model_dump().values()
        return [v for v in values if v is not None]

    def needed_fields(self) -> list[str] | None:
        """Raw fields to read, or ``None`` for every column (whole-row dedup keys)."""
        if self.dedup_fields == "*":
            return None
        return list(dict.fromkeys(self.mapped_fields() + list(self.dedup_fields)))


_MCAULEY_COLUMNS = {
    "product_id": "asin",
    "reviewer_id": "reviewerID",
    "rating": "overall",
    "title": "summary",
    "text": "reviewText",
    "review_time": "unixReviewTime",
}

#: Known public formats. A manifest entry names one as ``preset`` and overrides what differs.
PRESETS: dict[str, dict[str, Any]] = {
    # McAuley 2014 and 2018 JSON lines (and their Kaggle CSV exports, which share the key).
    "mcauley_json": {
        "reader": "json_lines",
        "columns": _MCAULEY_COLUMNS,
        "time_format": "unix_s",
        "dedup_namespace": "mcauley",
        "dedup_fields": ["reviewerID", "reviewText", "unixReviewTime"],
    },
    "mcauley_csv": {
        "reader": "csv",
        "columns": _MCAULEY_COLUMNS,
        "time_format": "unix_s",
        "dedup_namespace": "mcauley",
        "dedup_fields": ["reviewerID", "reviewText", "unixReviewTime"],
    },
    # Amazon Reviews'23: rating float, timestamp in unix milliseconds.
    "reviews23_jsonl": {
        "reader": "json_lines",
        "columns": {
            "product_id": "parent_asin",
            "reviewer_id": "user_id",
            "rating": "rating",
            "title": "title",
            "text": "text",
            "review_time": "timestamp",
        },
        "time_format": "unix_ms",
        "dedup_namespace": "reviews23",
        "dedup_fields": ["user_id", "text", "timestamp"],
    },
    # SNAP 2013 `key: value` blocks (ISO-8859-1) and the Fine Food CSV that repeats them.
    "snap2013_text": {
        "reader": "snap_text",
        "encoding": "iso-8859-1",
        "columns": {
            "product_id": "product/productId",
            "reviewer_id": "review/userId",
            "rating": "review/score",
            "title": "review/summary",
            "text": "review/text",
            "review_time": "review/time",
        },
        "time_format": "unix_s",
        "dedup_namespace": "snap2013",
        "dedup_fields": ["review/userId", "review/text", "review/time"],
    },
    "snap2013_csv": {
        "reader": "csv",
        "columns": {
            "product_id": "ProductId",
            "reviewer_id": "UserId",
            "rating": "Score",
            "title": "Summary",
            "text": "Text",
            "review_time": "Time",
        },
        "time_format": "unix_s",
        "dedup_namespace": "snap2013",
        "dedup_fields": ["UserId", "Text", "Time"],
    },
    # amazon_reviews_us_<Category>_v1_00.tsv: tabs, no quoting at all ('"' is a literal).
    "aws_tsv": {
        "reader": "csv",
        "delimiter": "\t",
        "quoting": False,
        "columns": {
            "product_id": "product_id",
            "reviewer_id": "customer_id",
            "rating": "star_rating",
            "title": "review_headline",
            "text": "review_body",
            "review_time": "review_date",
        },
        "time_format": "%Y-%m-%d",
        "dedup_namespace": "aws_tsv",
        "dedup_fields": ["review_id"],
    },
    # Any other CSV export: the manifest entry supplies columns and dedup fields.
    "csv": {"reader": "csv"},
}


def build_spec(entry: dict[str, Any]) -> SourceSpec:
    """Merge a manifest entry over its preset and validate it."""
    entry = dict(entry)
    preset_name = entry.pop("preset", None)
    if preset_name is None:
        return SourceSpec(**entry)
    if preset_name not in PRESETS:
        raise ValueError(f"unknown preset {preset_name!r}; known: {', '.join(sorted(PRESETS))}")
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PRESETS[preset_name].items()}
    for key, value in entry.items():
        if key == "columns" and isinstance(value, dict) and "columns" in merged:
            merged["columns"] = {**merged["columns"], **value}
        else:
            merged[key] = value
    return SourceSpec(**merged)


class Manifest(BaseModel):
    base_uri: str
    sources: list[SourceSpec]


def load_manifest(path: str | Path, base_uri: str | None = None) -> Manifest:
    """Read a TOML sources manifest. ``base_uri`` (or the file's own) is resolved
    relative to the manifest's folder when it is a relative local path. Anything wrong
    with the manifest raises :class:`ConfigError` naming it (and the entry)."""
    from sentiment_model.core.errors import ConfigError

    manifest_path = Path(path)
    try:
        data = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"sources manifest {manifest_path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"sources manifest {manifest_path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"sources manifest {manifest_path} is not valid TOML: {exc}") from None
    base = base_uri or data.get("base_uri", ".")
    if "://" not in base and not Path(base).is_absolute():
        base = str((manifest_path.parent / base).resolve())
    specs = []
    for number, entry in enumerate(data.get("sources", []), start=1):
        label = f"{manifest_path}: source {entry.get('name', f'#{number}')!r}" if isinstance(entry, dict) else f"{manifest_path}: source #{number}"
        try:
            specs.append(build_spec(entry))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
            raise ConfigError(f"{label}: {problems}") from None
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{label}: {exc}") from None
    names = [s.name for s in specs]
    if len(names) != len(set(names)):
        raise ConfigError(f"{manifest_path}: source names must be unique")
    return Manifest(base_uri=base, sources=specs)


def resolve_files(spec: SourceSpec, base_uri: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Expand a spec's ``uri`` (file, folder or glob) to a sorted list of file URLs. A
    file whose name holds glob characters (``[``, ``*``, ``?``) is taken literally when
    it exists under that exact name."""
    uri = spec.uri if ("://" in spec.uri or spec.uri.startswith("/")) else posixpath.join(base_uri, spec.uri)
    fs, path = fsspec.core.url_to_fs(uri, **(storage_options or {}))
    if any(ch in path for ch in "*?[") and not fs.isfile(path):
        paths = fs.glob(path)
    elif fs.isdir(path):
        paths = fs.find(path)
    else:
        paths = [path] if fs.exists(path) else []
    files = sorted(p for p in paths if not fs.isdir(p))
    return [fs.unstrip_protocol(p) if "://" in uri else p for p in files]
