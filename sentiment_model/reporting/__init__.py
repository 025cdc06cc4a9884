"""The nightly report: DuckDB queries over scored days, input monitoring and drift, alerts, HTML with charts."""
