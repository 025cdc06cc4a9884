"""The ingest flow under a real (temporary) Prefect API: failure isolation, reconciliation,
dedup across files, memory:// roots, and staging nightly batches."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from flows.ingest import IngestIncomplete, ingest
from flows.stage_batches import stage_batches
from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot
from sentiment_model.ingest.canonical import read_canonical

pytestmark = pytest.mark.usefixtures("prefect_harness")


def write_manifest(tmp_path: Path, entries: str) -> str:
    path = tmp_path / "sources.toml"
    path.write_text(f'base_uri = "raw"\n{entries}', encoding="utf-8")
    return str(path)


MANIFEST = """
[[sources]]
name = "json"
uri = "*.jsonl*"
preset = "mcauley_json"

[[sources]]
name = "tsv"
uri = "aws.tsv"
preset = "aws_tsv"
"""


def test_truncated_gzip_fails_only_its_own_source(tmp_path, fixture_copy):
    good = fixture_copy("mcauley_2014.jsonl")
    fixture_copy("aws.tsv")
    whole = gzip.compress(good.read_bytes())
    (good.parent / "z_truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    root_dir = tmp_path / "root"
    state = ingest(data_root=str(root_dir), sources_manifest=write_manifest(tmp_path, MANIFEST), return_state=True)
    assert state.is_failed()
    with pytest.raises(IngestIncomplete, match=r"z_truncated\.jsonl\.gz: truncated or corrupt compressed file"):
        state.result()
    root = DataRoot(str(root_dir))
    report = root.read_json(root.join(root.read_json(root.canonical_pointer())["report"]))
    status = {Path(row["source"]).name: row["status"] for row in report["files"]}
    assert status == {"mcauley_2014.jsonl": "ok", "z_truncated.jsonl.gz": "failed", "aws.tsv": "ok"}
    canonical = read_canonical(root)
    assert set(pc.unique(canonical.column("source")).to_pylist()) == {str(good), str(good.parent / "aws.tsv")}
    # Nothing of the failed file is left in staging or in the snapshot.
    run_id = root.read_json(root.canonical_pointer())["run_id"]
    assert not root.fs.exists(root.staging_dir(run_id))


def test_reconciliation_adds_up_and_duplicates_are_counted(tmp_path, fixture_copy):
    fixture_copy("mcauley_2014.jsonl")
    fixture_copy("mcauley_2014.jsonl", gz=True, new_name="mcauley_copy.jsonl")  # every review again
    fixture_copy("aws.tsv")
    report = ingest(data_root=str(tmp_path / "root"), sources_manifest=write_manifest(tmp_path, MANIFEST))
    rows = {Path(r["source"]).name: r for r in report["files"]}
    for row in rows.values():
        assert row["records_read"] == row["canonical"] + row["duplicates"] + row["quarantined"]
    first, copy = rows["mcauley_2014.jsonl"], rows["mcauley_copy.jsonl.gz"]
    assert (first["canonical"], first["duplicates"], first["quarantined"]) == (3, 1, 4)
    assert (copy["canonical"], copy["duplicates"], copy["quarantined"]) == (0, 4, 4)
    assert rows["aws.tsv"]["duplicates"] == 1
    canonical = read_canonical(DataRoot(str(tmp_path / "root")))
    assert canonical.num_rows == report["totals"]["canonical"] == len(set(canonical.column("review_id").to_pylist()))


def test_memory_data_root_and_staged_batches(tmp_path, fixture_copy):
    fixture_copy("mcauley_2014.jsonl")
    fixture_copy("aws.tsv")
    url = "memory://review-sentiment-test"
    ingest(data_root=url, sources_manifest=write_manifest(tmp_path, MANIFEST))
    counts = stage_batches(data_root=url, start=dt.date(2015, 8, 30), end=dt.date(2015, 8, 31))
    assert counts == {"2015-08-30": 2, "2015-08-31": 1, "undated": 0}
    root = DataRoot(url)
    with root.fs.open(root.join("incoming", "date=2015-08-30", "part-00000.parquet"), "rb") as handle:
        day = pq.read_table(handle)
    assert day.num_rows == 2 and set(day.column("product_id").to_pylist()) == {"B00WATCH2"}


def test_unknown_scheme_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown or unavailable storage scheme 'nosuch://'"):
        _ = DataRoot("nosuch://bucket/x").fs
    with pytest.raises(ConfigError, match="run `sentiment ingest` first"):
        read_canonical(DataRoot(str(tmp_path / "empty")))


def test_same_review_id_with_different_content_is_quarantined_as_a_conflict(tmp_path, fixture_copy):
    raw = fixture_copy("aws.tsv")
    header, first, *_ = raw.read_text().split("\n")
    conflicting = first.replace("\t5\t0\t0\tN\tY\t", "\t1\t0\t0\tN\tY\t").replace("Keeps time.", "Stopped keeping time.")
    (raw.parent / "later.tsv").write_text(f"{header}\n{first}\n{conflicting}\n")
    manifest = write_manifest(tmp_path, '[[sources]]\nname = "tsv"\nuri = "*.tsv"\npreset = "aws_tsv"\n')
    report = ingest(data_root=str(tmp_path / "root"), sources_manifest=manifest)
    later = next(r for r in report["files"] if r["source"].endswith("later.tsv"))
    assert (later["canonical"], later["duplicates"], later["quarantined"]) == (0, 1, 1)
    assert later["quarantine_reasons"] == {"conflicting duplicate": 1}
    root = DataRoot(str(tmp_path / "root"))
    conflicts = pq.read_table(root.quarantine_file(report["pointer"]["run_id"], "conflicting-duplicates")).to_pylist()
    assert conflicts[0]["source"].endswith("later.tsv")
    assert conflicts[0]["quarantine_reason"].startswith("conflicting duplicate: review_id ")
    assert "Stopped keeping time" in conflicts[0]["raw"]
