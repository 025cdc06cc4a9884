"""Every query file in ``sql/`` is one the report runs: a file no code names is dead text
that reads as if it were part of the report (as ``sql/empty_text.sql`` once was)."""

from sentiment_model.core.settings import PROJECT_ROOT

REPORTING = PROJECT_ROOT / "sentiment_model" / "reporting"


def test_every_sql_file_is_named_by_the_reporting_code():
    code = "\n".join(path.read_text(encoding="utf-8") for path in REPORTING.glob("*.py"))
    unused = [path.name for path in sorted((PROJECT_ROOT / "sql").glob("*.sql")) if f'"{path.stem}"' not in code]
    assert not unused, f"sql files no reporting module names: {unused}"
