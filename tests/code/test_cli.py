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

    flows = Path(__file__).parents[2] / "flows"
    for module in flows.glob("*.py"):
        if module.name in ("__init__.py", "cli.py"):
            continue
        assert 'if __name__ == "__main__":' in module.read_text(), module
