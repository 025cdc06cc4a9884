"""The nightly-scoring run's parameters: the one place their defaults are written."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sentiment_model.core.settings import ReportOptions


class ScoringConfig(BaseModel):
    """Which days a scoring run covers, with which model, where the files are scored, and
    what the report compares. The `nightly-scoring` flow's parameter (a form in the
    Prefect UI) and what `sentiment score` builds."""

    model_config = ConfigDict(extra="forbid")

    run_date: dt.date | None = Field(None, description="The day to score; none: yesterday in the configured timezone.")
    end_date: dt.date | None = Field(None, description="Last day of a backfill: every day from run_date to this one is scored.")
    model_version: str | None = Field(None, description="A registered version or a model folder; none: the champion.")
    dask_address: str | None = Field(None, description="A Dask scheduler to fan the files out on, instead of local threads.")
    max_workers: int = Field(2, ge=1, description="Threads scoring files at once when no Dask scheduler is given.")
    allow_empty: bool = Field(False, description="Let a day that scores nothing replace a published day that has reviews.")
    report: ReportOptions = Field(default_factory=ReportOptions, description="What each day's report compares it with, and when it alerts.")

    @model_validator(mode="after")
    def _end_not_before_start(self) -> ScoringConfig:
        if self.run_date is not None:
            self.days(self.run_date)  # an explicit backwards range fails here, not at run time
        return self

    def days(self, yesterday: dt.date) -> list[dt.date]:
        """The days to score, oldest first; ``yesterday`` stands in for a missing run_date."""
        first = self.run_date or yesterday
        last = self.end_date or first
        if last < first:
            raise ValueError(f"end_date {last} is before run_date {first}: nothing to do")
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
