"""review-sentiment library: ingestion, labels, model and scoring. Never imports Prefect."""
