"""Every CLI command answers --help; every flow module is runnable with python -m."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import app


@pytest.mark.parametrize("command", [[], ["ingest"], ["stage-batches"], ["retrain"], ["score"], ["report"], ["evaluate"], ["explain"], ["demo"]])
def test_help(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_flow_modules_have_main_guard():
    from pathlib import Path

    flows = Path(__file__).parents[3] / "flows"
    for module in flows.glob("*.py"):
        if module.name == "__init__.py":
            continue
        assert 'if __name__ == "__main__":' in module.read_text(), module


def test_evaluate_writes_the_metrics_json(tiny_champion_root, tmp_path):
    import orjson

    from tests.conftest import FIXTURES

    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(app, ["evaluate", "--source", str(FIXTURES / "aws.tsv"), "--format", "aws_tsv", "--model", "champion", "--out", str(out), "--data-root", tiny_champion_root.url])
    assert result.exit_code == 0, result.output
    metrics = orjson.loads(out.read_bytes())
    assert metrics["n"] == 3  # 5 records: one short row quarantined, one repeated review_id
    for key in ("accuracy", "macro_f1", "macro_f1_present", "weighted_f1", "roc_auc_ovr", "confusion_matrix"):
        assert key in metrics
    assert set(metrics["per_class"]) == {"negative", "neutral", "positive"}
    assert metrics["per_class"]["neutral"]["support"] == 0  # absent class reported with support 0
    assert set(metrics["per_class"]["positive"]) == {"precision", "recall", "f1", "support"}


def test_run_ids_sort_by_start_time_even_within_one_second():
    import datetime as dt

    from sentiment_model.core.layout import new_run_id

    start = dt.datetime(2026, 1, 1, 2, 0, 0, 1, tzinfo=dt.UTC)
    ids = [new_run_id(start + dt.timedelta(microseconds=i)) for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_retrain_options_reach_the_training_config(monkeypatch, tmp_path):
    """Options the user gives override the defaults; the rest stay TrainConfig's."""
    import flows.retrain
    from sentiment_model.training.train import TrainConfig

    seen = {}

    def capture(data_root, config):
        seen["config"] = config
        raise SystemExit(0)  # stop before any training

    monkeypatch.setattr(flows.retrain, "retrain", capture)
    result = CliRunner().invoke(app, ["retrain", "--data-root", str(tmp_path / "root"), "--wide-terms", "0", "--epochs", "1", "--wide-combiner", "share"])
    assert result.exit_code == 0, result.output
    train = seen["config"].train
    assert train.wide_terms == 0 and train.epochs == 1 and train.wide_combiner == "share"
    assert train.lstm_units == TrainConfig().lstm_units and TrainConfig().wide_terms == 200_000 and TrainConfig().wide_combiner == "stacked_length"
    result = CliRunner().invoke(app, ["retrain", "--data-root", str(tmp_path / "root"), "--wide-combiner", "sum"])
    # A ConfigError naming the option: main() prints its one line and exits 2.
    assert type(result.exception).__name__ == "ConfigError" and "--wide-combiner: Input should be 'stacked_length', 'stacked' or 'share'" in str(result.exception)
