"""The nightly-scoring run's parameters: the one place their defaults are written."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sentiment_model.core.errors import ConfigError, check_date_range
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
    expect_empty_nights: bool = Field(
        False,
        description=(
            "Quiet nights are normal here: a day with no batch files gets an empty report and the run completes."
            " Off (default): such a day is not scored or reported, and the run fails naming the day and the folder searched."
        ),
    )
    report: ReportOptions = Field(default_factory=ReportOptions, description="What each day's report compares it with, and when it alerts.")

    @model_validator(mode="after")
    def _a_range_has_an_explicit_start_and_runs_forward(self) -> ScoringConfig:
        # Checked when the parameters are validated (the flow refuses them before any
        # heavy import; the CLI before anything runs), not after the model has loaded.
        if self.end_date is not None and self.run_date is None:
            raise ValueError(f"end_date {self.end_date} needs a run_date: a backfill's first day must be given (without it the first day is 'yesterday', which moves with every run)")
        if self.run_date is not None:
            self.days(self.run_date)  # an explicit backwards range fails here, not at run time
        return self

    def days(self, yesterday: dt.date) -> list[dt.date]:
        """The days to score, oldest first; ``yesterday`` stands in for a missing run_date."""
        first = self.run_date or yesterday
        last = self.end_date or first
        check_date_range(first, last, ("run_date", "end_date"))
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def checked_scoring_config(names: dict[str, str] | None = None, **values: Any) -> ScoringConfig:
    """``ScoringConfig(**values)``, or a :class:`ConfigError` of one line naming the first
    refused value; ``names`` renames fields in the message (``{"end_date": "--end-date"}``
    for the CLI)."""
    try:
        return ScoringConfig(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in error.get("loc") or ())
        if field and field not in message:
            message = f"{field}: {message}"
        for name, shown in (names or {}).items():
            message = re.sub(rf"\b{name}\b", shown, message)
        raise ConfigError(message) from None
