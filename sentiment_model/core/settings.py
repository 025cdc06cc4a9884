"""Runtime configuration: one pydantic-settings object, read when asked for, never at import."""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from sentiment_model.core.schema import MAX_TEXT_CHARS

if TYPE_CHECKING:
    from sentiment_model.core.layout import DataRoot

#: The ``sentiment_model`` package folder (this file is ``core/settings.py`` inside it).
PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: The repository root, used to find the bundled sources manifest and SQL files.
PROJECT_ROOT = PACKAGE_DIR.parent
#: Where an installed wheel keeps them (pyproject's force-include maps them here).
PACKAGED_RESOURCES = PACKAGE_DIR / "resources"
#: Records per streamed chunk during ingest.
INGEST_CHUNK_ROWS = 50_000
#: Staged rows per dedup bucket: ~0.4 GB of rows, deduplicated within DuckDB's memory limit
#: without spilling (1M-row buckets spilled and peaked at ~1.5 GB each, two in flight).
INGEST_BUCKET_ROWS = 500_000
#: Reviews with at most this many tokens count as very short (the report's threshold, and
#: what a model's training reference is measured with).
SHORT_REVIEW_TOKENS = 3


def bundled_path(name: str) -> Path:
    """A file or folder shipped with the code (``sql``, ``sources.toml``): the checkout's
    copy when running from the repository, else the installed wheel's."""
    checkout = PROJECT_ROOT / name
    return checkout if checkout.exists() else PACKAGED_RESOURCES / name


class ReportThresholds(BaseModel):
    """When the nightly monitor opens an incident, and what the report shows. A signal
    fires when its effect size is at or above its threshold here *and* above what chance
    gives at the night's size (``chance_quantile``): an effect size alone fires on small
    nights by chance, a p-value alone fires on big nights for changes nobody cares about."""

    psi: float = Field(default=0.2, gt=0, description="Population stability index (class shares, probability histograms, star ratings) at or above which a mix has shifted; 0.1 watch, 0.25 shifted.")
    js_distance: float = Field(default=0.1, gt=0, le=1, description="Jensen-Shannon distance (base 2, 0..1) at or above which a mix has shifted.")
    share_change: float = Field(default=0.05, gt=0, le=1, description="Change of one class's (or one star's) share at or above which the mix has shifted (0.05: 5 points).")
    text_drift_auc: float = Field(
        default=0.6, gt=0.5, le=1, description="Domain-classifier ROC AUC (day vs trailing window) at or above which the text has drifted (30% of a night from a new category reads ~0.63)."
    )
    oov_share_increase: float = Field(default=0.05, gt=0, description="Out-of-vocabulary token share above the reference by this much: alert.")
    truncated_share_increase: float = Field(default=0.05, gt=0, description="Share of reviews cut at the model's max length above the reference by this much: alert.")
    short_share_increase: float = Field(default=0.1, gt=0, description="Share of empty or very short reviews above the reference by this much: alert.")
    non_english_share_increase: float = Field(default=0.05, gt=0, description="Share of non-English reviews above the reference by this much: alert.")
    duplicate_share_increase: float = Field(default=0.02, gt=0, description="Share of the night's reviews that repeat an earlier one, above the trailing window's by this much: alert.")
    f1_drop: float = Field(default=0.1, gt=0, description="Live F1 (per class, or macro) below the model's test F1 by this much: alert.")
    min_rated_per_class: int = Field(default=30, ge=1, description="Live per-class F1 is judged only for classes with at least this many star-rated reviews.")
    chance_quantile: float = Field(
        default=0.9995,
        ge=0.9,
        lt=1,
        description="A signal fires only above this quantile of its value when nothing changed, at the night's size (its chance level; one check in 2,000 passes it by chance).",
    )
    page_ratio: float = Field(default=3.0, ge=1, description="A new incident whose strongest signal is this many times its threshold pages (otherwise it warns).")
    short_review_tokens: int = Field(default=SHORT_REVIEW_TOKENS, ge=1, description="Reviews with at most this many tokens count as very short.")
    strong_probability: float = Field(default=0.9, gt=0.5, le=1, description="p(negative) / p(positive) at or above this: strongly negative / strongly positive.")
    low_confidence: float = Field(default=0.6, gt=0, lt=1, description="A review whose predicted class has a probability below this counts as low-confidence (its share is reported).")
    explain_reviews: int = Field(default=5, ge=0, description="Reviews explained with LIME per report (each costs model calls).")
    lime_samples: int = Field(default=300, ge=20, description="Perturbed texts per LIME explanation.")
    text_sample_rows: int = Field(default=5_000, ge=100, description="Reviews sampled from the day and from the reference window for text drift.")


class ReportOptions(BaseModel):
    """What a day's report compares it with and when it alerts: the report flow's
    ``report_options`` parameter and the nightly flow's ``config.report`` (a form in the
    Prefect UI), the one place these defaults are written."""

    window_days: int = Field(default=30, ge=1, description="Trailing days the day is compared with (drift, trend, text drift).")
    min_support: int = Field(default=3, ge=1, description="Fewest reviews a product needs that day to be ranked among the most negative.")
    top_products: int = Field(default=10, ge=1, description="Products listed among the day's most negative.")
    thresholds: ReportThresholds | None = Field(default=None, description="Alert thresholds; none: the configured ones (SENTIMENT_REPORT_THRESHOLDS).")

    def resolved(self, configured: ReportThresholds) -> ReportOptions:
        """These options with ``configured`` thresholds where none were given."""
        return self if self.thresholds is not None else self.model_copy(update={"thresholds": configured})


class Settings(BaseSettings):
    """Pipeline settings. Every field can be set as ``SENTIMENT_<FIELD>`` in the environment.

    Flow parameters override these per run.
    """

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", extra="ignore")

    data_root: str = Field(
        default="data",
        description="fsspec URL of the data root: a local folder, gs://bucket/prefix, or memory://.",
    )
    storage_options: dict[str, object] = Field(
        default_factory=dict,
        description='Extra fsspec options as JSON, e.g. {"endpoint_url": "http://127.0.0.1:9023", "token": "anon"}.',
    )
    sources_manifest: str = Field(
        default_factory=lambda: str(bundled_path("sources.toml")),
        description="TOML manifest that lists the raw sources and their formats.",
    )
    sources_base_uri: str | None = Field(
        default=None,
        description="Overrides the manifest's base_uri (e.g. gs://raw-dumps/amazon).",
    )
    chunk_rows: int = Field(default=INGEST_CHUNK_ROWS, gt=0, description="Records per streamed chunk during ingest.")
    ingest_bucket_rows: int = Field(default=INGEST_BUCKET_ROWS, gt=0, description="Staged rows per dedup bucket during ingest (bounds its memory).")
    timezone: str = Field(default="UTC", description="Timezone that defines 'yesterday' for nightly runs.")
    report_thresholds: ReportThresholds = Field(
        default_factory=ReportThresholds,
        description='Alert thresholds of the nightly report as JSON, e.g. {"psi": 0.25, "text_drift_auc": 0.85}.',
    )

    @field_validator("data_root")
    @classmethod
    def _data_root_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the data root is empty: give a folder or a URL such as gs://bucket/prefix")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as America/Los_Angeles)") from exc
        return value

    # --- the real-time service (`sentiment serve`) ---------------------------------------
    serve_host: str = Field(default="127.0.0.1", description="Address the service listens on.")
    serve_port: int = Field(default=8000, ge=0, le=65535, description="Port the service listens on.")
    serve_model: str = Field(default="champion", description="Model served: champion (hot-reloaded), a version, or a folder.")
    serve_runtime: Literal["keras", "onnx", "onnx-quantized"] = Field(
        default="keras", description="keras, or the model converted to ONNX at load time and run by onnxruntime (optionally int8 weights)."
    )
    serve_max_batch_size: int = Field(default=256, ge=1, description="Most reviews gathered into one model call (1 = micro-batching off).")
    # 20, not 4: under load, answered clients come back 5-20 ms later; a 4 ms window left
    # them for the next call, so two cohorts alternated and each request waited a whole call
    # for the other (64 clients: p99 292 ms at 267/s; 20 ms: 228-249 ms at 318-358/s, one cohort).
    serve_max_wait_ms: float = Field(default=20.0, ge=0, description="Longest a request waits for others to join its model call.")
    serve_max_queue: int = Field(default=1024, ge=1, description="Requests waiting for the model; beyond it the service answers 503.")
    serve_max_items: int = Field(default=256, ge=1, description="Most reviews in one request (413 beyond).")
    serve_max_text_chars: int = Field(
        default=MAX_TEXT_CHARS, ge=1, le=MAX_TEXT_CHARS, description="Characters kept of a title and of a body (batch scoring keeps the most allowed); longer text is cut and the response says so."
    )
    serve_max_body_bytes: int = Field(default=8 * 2**20, ge=1, description="Largest request body accepted (413 beyond).")
    serve_poll_seconds: float = Field(default=10.0, gt=0, description="How often the champion pointer's generation/mtime is checked.")
    serve_latency_budget_ms: float = Field(
        default=150.0,
        gt=0,
        description="Load shedding: 503 at once for a request whose predicted time to its scores (work queued ahead + its own) is over this, or that arrives behind one waiting longer.",
    )
    serve_header_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest a client may take to send a request's headers (from connect, or from the previous response); then the connection is closed."
    )
    serve_body_timeout_s: float = Field(default=30.0, gt=0, description="Longest a request body may take to arrive; then 408 and the connection is closed.")


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment now, with explicit overrides applied on top.
    A value that cannot work raises :class:`ConfigError` naming the setting."""
    from sentiment_model.core.errors import ConfigError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{_setting_name(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        raise ConfigError(f"invalid setting: {problems}") from None
    except SettingsError as exc:  # e.g. SENTIMENT_STORAGE_OPTIONS is not valid JSON
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"invalid setting: {exc}{cause}") from None


def root_at(url: str) -> DataRoot:
    """The data root at ``url`` with this process's storage options (``SENTIMENT_STORAGE_OPTIONS``).
    A subflow takes the root's URL and resolves it here, in the process that runs it: a
    token path or an inline key never travels as a flow-run parameter, which Prefect
    stores in its database and shows in the UI."""
    from sentiment_model.core.layout import DataRoot

    return DataRoot(url, get_settings(data_root=url).storage_options)


def _setting_name(location: tuple[object, ...]) -> str:
    name = str(location[0]) if location else "?"
    return f"{name} (SENTIMENT_{name.upper()})"
