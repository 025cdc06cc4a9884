"""review-sentiment library, one package per stage: core, ingest, training, model, scoring,
serving, reporting. Never imports Prefect."""
