"""Runtime configuration: one pydantic-settings object, read when asked for, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root, used to find the bundled sources manifest and SQL files.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    ingest_bucket_rows: int = Field(default=1_000_000, gt=0, description="Staged rows per dedup bucket during ingest (bounds its memory).")
    timezone: str = Field(default="UTC", description="Timezone that defines 'yesterday' for nightly runs.")


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment now, with explicit overrides applied on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
