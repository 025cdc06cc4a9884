"""Ingest the real shared corpus (../shared/data/amazon) and check it against its README."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sentiment_model.ingest.canonical import read_canonical
from sentiment_model.training.data import add_labels, normalized_text_keys, split_train_validation_test

pytestmark = pytest.mark.integration

# Records per file from ../shared/data/README.md (the NA-rated rows included).
README_RECORDS = {
    "Musical_instruments_reviews_first5050.csv.gz": 5050,
    "kindle_reviews_sample4905.csv.gz": 4905,
    "Movies_and_TV_5_first3017.json.gz": 3017,
    "Appliances_5.json.gz": 2277,
    "AllProductReviews_earphones.csv.gz": 14337,
    "apple_iphone_11_reviews.csv.gz": 5010,
    "amazon_vfl_reviews.csv.gz": 2782,
    "amazon_baby_subset_5000rows.csv.gz": 5000,
    "cell_phones_and_accessories_5core_first4776.jsonl.gz": 4776,
    "finefoods_first244.txt.gz": 244,
    "amazon_reviews_us_Gift_Card_v1_00_first1452.tsv.gz": 1452,
}


def test_every_file_reconciles(shared_ingest):
    _, report = shared_ingest
    assert report["totals"]["files"] == 73 and report["totals"]["failed_files"] == 0
    for row in report["files"]:
        assert row["records_read"] == row["canonical"] + row["duplicates"] + row["quarantined"], row
    by_name = {Path(r["source"]).name: r for r in report["files"]}
    for name, records in README_RECORDS.items():
        assert by_name[name]["records_read"] == records, name
    assert report["totals"]["records_read"] == 87_963
    # 781 NA ratings are quarantined as 'rating missing'; no other rating is rejected.
    assert by_name["amazon_baby_subset_5000rows.csv.gz"]["quarantine_reasons"]["rating missing"] == 781
    reasons = {reason for row in report["files"] for reason in row["quarantine_reasons"]}
    assert reasons == {"rating missing", "missing text", "conflicting duplicate"}
    # Same review text under the same key but another star rating: quarantined, not guessed.
    assert 0 < sum(row["quarantine_reasons"].get("conflicting duplicate", 0) for row in report["files"]) < 100
    # Appliances_5 is 156 distinct reviews repeated under 48 ASINs.
    assert by_name["Appliances_5.json.gz"]["canonical"] == 156
    # amazon_vfl_reviews repeats every row twice (2 rows have no text at all).
    assert by_name["amazon_vfl_reviews.csv.gz"]["duplicates"] == 1390


def test_about_73800_distinct_reviews_with_readme_class_balance(shared_ingest):
    root, report = shared_ingest
    canonical = add_labels(read_canonical(root))
    assert 73_700 <= canonical.num_rows <= 73_800
    assert canonical.num_rows == report["totals"]["canonical"] == len(set(canonical.column("review_id").to_pylist()))
    counts = Counter(canonical.column("label").to_pylist())
    # README, over distinct reviews: 10,037 negative, 5,847 neutral, 57,872 positive.
    assert counts["negative"] == 10_037 and counts["neutral"] == 5_847
    assert abs(counts["positive"] - 57_872) <= 5


def test_split_after_dedup_has_no_text_in_two_splits(shared_ingest):
    root, _ = shared_ingest
    splits = split_train_validation_test(add_labels(read_canonical(root)), seed=13)
    train, test = set(normalized_text_keys(splits["train"])), set(normalized_text_keys(splits["test"]))
    assert not train & test
    assert 0.09 < splits["test"].num_rows / sum(t.num_rows for t in splits.values()) < 0.11


def test_bucketed_dedup_gives_the_single_pass_result_on_the_shared_corpus(tmp_path):
    """Eight buckets (and one) against the pre-bucket rule over the same staged rows:
    the same review_ids kept from the same files, the same counts per file."""
    from sentiment_model.core.layout import DataRoot
    from tests.conftest import PROJECT_ROOT, require_shared_corpus
    from tests.unit.ingest.test_bucketed_ingest import ingest_all, observed, reference_dedup

    require_shared_corpus()
    results = {}
    for bucket_rows in (10_000, 1_000_000):
        root = DataRoot(str(tmp_path / f"root-{bucket_rows}"))
        report = ingest_all(root, str(PROJECT_ROOT / "sources.toml"), bucket_rows=bucket_rows)
        kept, counts = observed(root, report)
        assert (kept, counts) == reference_dedup(root, report)
        assert report["totals"]["records_read"] == 87_963
        results[bucket_rows] = (kept, counts)
    assert results[10_000] == results[1_000_000]
    assert len(list((tmp_path / "root-10000").rglob("part-b00007-*.parquet"))) > 0  # eight buckets really ran
