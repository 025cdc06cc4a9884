"""The gs:// path against a real local GCS emulator (gcp-storage-emulator), not a mock:
ingest from gs://, train, stage, score and report with the data root on gs://."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.conftest import FIXTURES, GCS_BUCKET, require_shared_corpus

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

BUCKET = GCS_BUCKET
DAY = dt.date(2015, 8, 31)


def test_pipeline_with_data_root_and_sources_on_gcs(gcs_emulator, tmp_path, monkeypatch):
    import gcsfs

    shared = require_shared_corpus()
    fs = gcsfs.GCSFileSystem(**gcs_emulator)
    fs.invalidate_cache()
    for name in ("amazon_reviews_us_Wireless_v1_00_first999.tsv.gz", "amazon_reviews_us_Watches_v1_00_first999.tsv.gz", "amazon_reviews_us_Gift_Card_v1_00_first1452.tsv.gz"):
        fs.put_file(str(shared / "aws_reviews_tsv" / name), f"{BUCKET}/raw/tsv/{name}")
    fs.put_file(str(shared / "mcauley2014_json" / "electronics_small_1000.jsonl.gz"), f"{BUCKET}/raw/json/electronics_small_1000.jsonl.gz")
    fs.put_file(str(FIXTURES / "reviews23.jsonl"), f"{BUCKET}/raw/json23/reviews23.jsonl")
    manifest = tmp_path / "sources.toml"
    manifest.write_text(
        f'base_uri = "gs://{BUCKET}/raw"\n'
        '[[sources]]\nname = "tsv"\nuri = "tsv/*.tsv.gz"\npreset = "aws_tsv"\n'
        '[[sources]]\nname = "json"\nuri = "json/*.jsonl.gz"\npreset = "mcauley_json"\n'
        '[[sources]]\nname = "r23"\nuri = "json23/*.jsonl"\npreset = "reviews23_jsonl"\n'
    )
    monkeypatch.setenv("SENTIMENT_STORAGE_OPTIONS", json.dumps(gcs_emulator))
    data_root = f"gs://{BUCKET}/root"

    from flows.ingest import ingest
    from flows.nightly_scoring import nightly_scoring
    from flows.retrain import retrain
    from flows.stage_batches import stage_batches
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.scoring.batch import read_scored_day
    from sentiment_model.scoring.config import ScoringConfig
    from sentiment_model.training.config import RetrainConfig, TrainConfig

    report = ingest(data_root=data_root, sources_manifest=str(manifest))
    assert report["totals"]["failed_files"] == 0 and report["totals"]["files"] == 5
    assert report["totals"]["records_read"] == 999 + 999 + 1452 + 1000 + 3
    model = retrain(
        data_root=data_root,
        config=RetrainConfig(train=TrainConfig(frozen_embeddings=None, epochs=1, embedding_dim=16, lstm_units=8, max_length=64, embeddings="random", ensemble_size=1, distill=False)),
    )
    assert model["decision"]["promoted"]
    counts = stage_batches(data_root=data_root, start=DAY, end=DAY)
    outcome = nightly_scoring(data_root=data_root, config=ScoringConfig(run_date=DAY))
    assert outcome["days"][DAY.isoformat()]["scored"] == counts[DAY.isoformat()] > 0

    root = DataRoot(data_root, gcs_emulator)
    root.fs.invalidate_cache()
    for path in (
        root.canonical_pointer(),
        root.champion_pointer(),
        f"{root.models_dir(model['version'])}/model.keras",
        f"{root.models_dir(model['version'])}/confusion_matrix.png",  # drawn by the retrain, beside its model
        f"{root.reports_dir(DAY)}/report.html",
        f"{root.reports_dir(DAY)}/summary.json",
    ):
        assert root.fs.exists(path), path
    scored = read_scored_day(root, DAY)
    assert scored.num_rows == counts[DAY.isoformat()] == len(set(scored.column("review_id").to_pylist()))
