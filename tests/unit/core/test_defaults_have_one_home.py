"""Every default, name and path defined once (issue 33, item 2): the tuned numbers appear
once in the library, `retrain`'s options are RetrainConfig's and TrainConfig's fields
(generated, with their descriptions as help), the report's thresholds are fields with a
description, the reversed-date check is one function, and the layout module parses the
folder names it builds."""

from __future__ import annotations

import datetime as dt
import inspect
import io
import tokenize
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flows.cli import app, retrain_config, retrain_fields
from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot, day_folder, new_run_id, parse_day_folder, parse_run_folder, run_folder
from sentiment_model.core.settings import ReportOptions, ReportThresholds
from sentiment_model.training.config import RetrainConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[3]


def _numbers(package: str, literal: str) -> list[str]:
    """Where a number literal is written in a package's code (not in comments or strings)."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        found += [f"{path.relative_to(ROOT)}:{t.start[0]}" for t in tokens if t.type == tokenize.NUMBER and t.string == literal]
    return found


@pytest.mark.parametrize(
    ("literal", "home"),
    [
        ("200", "sentiment_model/model/sizes.py"),  # MAX_LENGTH: buckets, widths, TrainConfig and histogram edges read it
        ("13", "sentiment_model/training/config.py"),  # SEED: training, split, samples, baseline
        ("200_000", "sentiment_model/training/config.py"),  # wide_terms (the TF-IDF+LR baseline has its own: baseline.py)
    ],
)
def test_a_tuned_number_is_written_once(literal, home):
    allowed = {"200_000": {"sentiment_model/training/baseline.py"}}.get(literal, set())
    found = [where for where in _numbers("sentiment_model", literal) if where.split(":")[0] not in allowed]
    assert [where.split(":")[0] for where in found] == [home], f"{literal} written in {found}: read it from {home}"


def test_retrain_has_one_option_per_config_field_with_its_description_as_help():
    command = typer.main.get_command(app).commands["retrain"]  # type: ignore[attr-defined]
    options = {param.name: param for param in command.params if param.name not in ("data_root", "help")}
    fields = retrain_fields()
    # The nested configs are not options: train's fields are, the teacher's keep their
    # defaults on the command line (the Prefect UI's form sets them).
    assert set(options) == set(fields) == (set(RetrainConfig.model_fields) - {"train", "teacher"}) | set(TrainConfig.model_fields)
    for name, info in fields.items():
        assert info.description, f"{name}: a field without a description has no help"
        assert f"--{name.replace('_', '-')}" in options[name].opts
        assert options[name].help.startswith(info.description), name
        assert options[name].default is None  # not given: the field's default, not a copy of it


def test_retrain_options_build_the_config_and_keep_their_old_names():
    command = typer.main.get_command(app).commands["retrain"]  # type: ignore[attr-defined]
    opts = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    assert {"--tolerance", "--sample-size", "--train-before", "--frozen-embeddings", "--distill", "--no-distill", "--wide-combiner"} <= opts
    none = retrain_config({"frozen_embeddings": "none", "truncation_head": None})  # not given vs "none"
    assert none.train.truncation_head == TrainConfig().truncation_head
    config = retrain_config({"sample_size": 0, "promotion_tolerance": 0.01, "train_before": dt.datetime(2015, 8, 1), "buckets": ("16", "64", "200"), "distill": True, "epochs": None})
    assert config.sample_size is None and config.promotion_tolerance == 0.01 and config.train_before == dt.date(2015, 8, 1)
    assert config.train.buckets == (16, 64, 200) and config.train.distill and config.train.epochs == TrainConfig().epochs


def test_a_bad_retrain_option_is_one_line_naming_it_before_anything_runs(tmp_path):
    result = CliRunner().invoke(app, ["retrain", "--data-root", str(tmp_path / "root"), "--buckets", "16,x"])
    assert isinstance(result.exception, ConfigError) and str(result.exception) == "invalid retrain option: --buckets: Input should be a valid integer, unable to parse string as an integer"
    with pytest.raises(ConfigError, match=r"^invalid retrain option: --sample-size: Input should be greater than or equal to 0$"):
        retrain_config({"sample_size": -3})
    assert not (tmp_path / "root").exists()


def test_report_settings_are_fields_not_hidden_arguments():
    from sentiment_model.reporting.queries import ReportQueries
    from sentiment_model.reporting.reports import build_report

    assert ReportThresholds().low_confidence == 0.6 and ReportOptions().top_products == 10
    for function in (build_report, ReportQueries.__init__):
        hidden = [p.name for p in inspect.signature(function).parameters.values() if isinstance(p.default, int | float) and not isinstance(p.default, bool)]
        assert not hidden, f"{function.__qualname__} has numeric defaults {hidden}: make them ReportThresholds/ReportOptions fields"


def test_the_reversed_date_check_is_written_once():
    found = []
    for package in ("sentiment_model", "flows", "tasks"):
        found += [str(path.relative_to(ROOT)) for path in (ROOT / package).rglob("*.py") if "is before {" in path.read_text(encoding="utf-8")]
    assert found == ["sentiment_model/core/errors.py"]


def test_the_layout_parses_the_folder_names_it_builds():
    root = DataRoot("memory://layout-round-trip")
    day, run_id = dt.date(2015, 8, 31), new_run_id()
    for folder in (root.incoming_dir(day), root.scored_dir(day), root.reports_dir(day)):
        assert parse_day_folder(folder.rsplit("/", 1)[1]) == day
    assert parse_day_folder(day_folder(day)) == day
    for quarantine, part in ((False, root.scored_part(day, run_id, 0)), (True, root.scored_quarantine_part(day, run_id, 0))):
        assert part.split("/")[-2] == run_folder(run_id, quarantine)
        assert parse_run_folder(run_folder(run_id, quarantine)) == run_id
    for other in ("_MANIFEST.json", "date=2015-02-30", "date=2015-8-1", "run=", "runs", "quarantine-run"):
        assert parse_day_folder(other) is None and parse_run_folder(other) is None
