"""ruff (lint and format, configured in pyproject.toml) is clean: CI runs it through here."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def ruff() -> str:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert found, "ruff is not installed: `uv sync` installs it with the dev group"
    return found


@pytest.mark.parametrize("arguments", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_is_clean(arguments):
    result = subprocess.run([ruff(), *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
