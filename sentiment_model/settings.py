"""Runtime configuration: one pydantic-settings object, read when asked for, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root, used to find the bundled sources manifest and SQL files.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ReportThresholds(BaseModel):
    """When the nightly report raises an alert, and what it shows. Effect sizes, not
    p-values: on thousands of reviews a p-value is ~0 every night."""

    psi: float = Field(default=0.2, gt=0, description="Population stability index (class shares, probability histograms) at or above which drift is alerted; 0.1 watch, 0.25 shifted.")
    js_distance: float = Field(default=0.1, gt=0, le=1, description="Jensen-Shannon distance (base 2, 0..1) at or above which drift is alerted.")
    text_drift_auc: float = Field(default=0.8, gt=0.5, le=1, description="Domain-classifier ROC AUC (day vs reference window) at or above which text drift is alerted.")
    oov_share_increase: float = Field(default=0.05, gt=0, description="Out-of-vocabulary token share above the reference by this much: alert.")
    truncated_share_increase: float = Field(default=0.05, gt=0, description="Share of reviews cut at the model's max length above the reference by this much: alert.")
    short_share_increase: float = Field(default=0.1, gt=0, description="Share of empty or very short reviews above the reference by this much: alert.")
    non_english_share_increase: float = Field(default=0.05, gt=0, description="Share of non-English reviews above the reference by this much: alert.")
    f1_drop: float = Field(default=0.1, gt=0, description="Live F1 (per class, or macro) below the model's test F1 by this much: alert.")
    min_rated_per_class: int = Field(default=30, ge=1, description="Live per-class F1 is judged only for classes with at least this many star-rated reviews.")
    short_review_tokens: int = Field(default=3, ge=1, description="Reviews with at most this many tokens count as very short.")
    strong_probability: float = Field(default=0.9, gt=0.5, le=1, description="p(negative) / p(positive) at or above this: strongly negative / strongly positive.")
    explain_reviews: int = Field(default=5, ge=0, description="Reviews explained with LIME per report (each costs model calls).")
    lime_samples: int = Field(default=300, ge=20, description="Perturbed texts per LIME explanation.")
    text_sample_rows: int = Field(default=5_000, ge=100, description="Reviews sampled from the day and from the reference window for text drift.")


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
        default=str(PROJECT_ROOT / "sources.toml"),
        description="TOML manifest that lists the raw sources and their formats.",
    )
    sources_base_uri: str | None = Field(
        default=None,
        description="Overrides the manifest's base_uri (e.g. gs://raw-dumps/amazon).",
    )
    chunk_rows: int = Field(default=50_000, gt=0, description="Records per streamed chunk during ingest.")
    timezone: str = Field(default="UTC", description="Timezone that defines 'yesterday' for nightly runs.")
    report_thresholds: ReportThresholds = Field(
        default_factory=ReportThresholds,
        description='Alert thresholds of the nightly report as JSON, e.g. {"psi": 0.25, "text_drift_auc": 0.85}.',
    )


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment now, with explicit overrides applied on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
