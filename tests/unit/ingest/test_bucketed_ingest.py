"""Bucketed dedup, incremental ingest and the Dask path, on small generated McAuley dumps.

The reference for the dedup rule is :func:`reference_dedup`: the single pass over every
staged row in manifest order, with a dict of seen ids, that ingest used before buckets.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.core.settings import INGEST_BUCKET_ROWS
from sentiment_model.ingest.canonical import read_canonical
from sentiment_model.ingest.dedup import hash_slots, read_staged_rows, slot_range
from sentiment_model.ingest.pipeline import FileResult, SourceFileError, finish_ingest_run, ingest_file
from sentiment_model.ingest.sources import load_manifest, resolve_files
from sentiment_model.ingest.staged import load_staged

MANIFEST = '[[sources]]\nname = "dump"\nuri = "*.jsonl.gz"\npreset = "mcauley_json"\n'


def review(i: int, rating: int | None = None, text: str | None = None) -> dict[str, Any]:
    return {
        "reviewerID": f"R{i:04d}",
        "asin": f"B{i % 7}",
        "summary": f"title {i}",
        "reviewText": text or f"review number {i} says {'good' if i % 3 else 'bad'}",
        "overall": float(rating or 1 + i % 5),
        "unixReviewTime": 1_400_000_000 + 86_400 * (i % 40),
    }


def ingest_all(root: DataRoot, manifest_path: str, chunk_rows: int = 50_000, bucket_rows: int = INGEST_BUCKET_ROWS, reuse: bool = True) -> dict[str, Any]:
    """The library steps the ingest flow runs, here in one process, file after file, then
    bucket after bucket (no Prefect): what these tests compare against the rule."""
    manifest = load_manifest(manifest_path)
    run_id, started = new_run_id(), dt.datetime.now(dt.UTC).replace(microsecond=0)
    results: list[FileResult] = []
    files = [(spec, source) for spec in manifest.sources for source in resolve_files(spec, manifest.base_uri)]
    for index, (spec, source) in enumerate(files):
        try:
            results.append(ingest_file(root, run_id, spec, source, index, ingested_at=started, chunk_rows=chunk_rows, reuse=reuse))
        except SourceFileError as exc:
            results.append(FileResult(source_name=spec.name, source=source, file_index=index, error=str(exc)))
    return finish_ingest_run(root, run_id, results, started, bucket_rows=bucket_rows)


def write_dump(folder: Path, name: str, records: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with gzip.open(path, "wb") as out:
        out.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def write_manifest(tmp_path: Path) -> str:
    path = tmp_path / "sources.toml"
    path.write_text(f'base_uri = "raw"\n{MANIFEST}', encoding="utf-8")
    return str(path)


def corpus(raw: Path) -> None:
    """Three files with duplicates and conflicts within a file and across files/chunks."""
    a = [review(i) for i in range(300)] + [review(5)]  # an exact copy of R0005 in the same file
    b = [review(i) for i in range(200, 450)] + [review(250, rating=1 + (1 + 250 % 5) % 5)]  # conflict within b's own ids
    c = [review(i) for i in range(400, 600)] + [review(100), review(10, rating=1 + (1 + 10 % 5) % 5)]  # dup and conflict of a's rows, at the very end
    write_dump(raw, "a.jsonl.gz", a)
    write_dump(raw, "b.jsonl.gz", b)
    write_dump(raw, "c.jsonl.gz", c)


def reference_dedup(root: DataRoot, report: dict[str, Any]) -> tuple[dict[str, str], dict[str, tuple[int, int, int]]]:
    """The pre-bucket rule, one pass with a dict: ``({review_id: source of the kept copy},
    {source: (canonical, duplicates, conflicts)})``."""
    first: dict[str, tuple[str, str]] = {}
    counts: dict[str, tuple[int, int, int]] = {}
    for row in report["files"]:
        if row["status"] != "ok":
            continue
        staged = load_staged(root, row["staged_key"])
        table = read_staged_rows(root.fs, staged["parts"])
        kept = duplicates = conflicts = 0
        for review_id, content in zip(table.column("review_id").to_pylist(), table.column("content_hash").to_pylist(), strict=True):
            seen = first.get(review_id)
            if seen is None:
                first[review_id] = (content, row["source"])
                kept += 1
            elif seen[0] == content:
                duplicates += 1
            else:
                conflicts += 1
        counts[row["source"]] = (kept, duplicates, conflicts)
    return {rid: source for rid, (_, source) in first.items()}, counts


def observed(root: DataRoot, report: dict[str, Any]) -> tuple[dict[str, str], dict[str, tuple[int, int, int]]]:
    canonical = read_canonical(root, columns=["review_id", "source"])
    kept = dict(zip(canonical.column("review_id").to_pylist(), canonical.column("source").to_pylist(), strict=True))
    counts = {row["source"]: (row["canonical"], row["duplicates"], row["quarantine_reasons"].get("conflicting duplicate", 0)) for row in report["files"]}
    return kept, counts


def snapshot_rows(root: DataRoot) -> list[tuple]:
    table = read_canonical(root).drop_columns(["ingested_at"])
    return sorted(tuple(r.values()) for r in table.to_pylist())


def test_hash_slots_are_the_first_three_hex_digits_and_buckets_cover_every_slot():
    ids = ["000" + "0" * 29, "fff" + "a" * 29, "1aB" + "c" * 29, "d41d8cd98f00b204e9800998ecf8427e"]
    assert hash_slots(pc.cast(ids, "string")).tolist() == [0, 4095, 0x1AB, 0xD41]
    for buckets in (1, 3, 64, 4096):
        ranges = [slot_range(b, buckets) for b in range(buckets)]
        assert ranges[0][0] == 0 and ranges[-1][1] == 4096
        assert all(ranges[i][1] == ranges[i + 1][0] for i in range(buckets - 1))


@pytest.mark.parametrize("bucket_rows", [1_000_000, 40])
def test_bucketed_dedup_equals_the_single_pass_rule(tmp_path, bucket_rows):
    corpus(tmp_path / "raw")
    root = DataRoot(str(tmp_path / "root"))
    report = ingest_all(root, write_manifest(tmp_path), chunk_rows=64, bucket_rows=bucket_rows)
    kept, counts = observed(root, report)
    assert (kept, counts) == reference_dedup(root, report)
    for row in report["files"]:
        assert row["records_read"] == row["canonical"] + row["duplicates"] + row["quarantined"]
    assert report["totals"]["canonical"] == len(kept) == 600


def test_conflict_across_files_and_chunks_is_caught_and_the_first_copy_wins(tmp_path):
    raw = tmp_path / "raw"
    corpus(raw)
    root = DataRoot(str(tmp_path / "root"))
    report = ingest_all(root, write_manifest(tmp_path), chunk_rows=64, bucket_rows=40)
    by_name = {Path(r["source"]).name: r for r in report["files"]}
    # c: 200 own rows, 50 of them (400-449) already in b; R0100 is a duplicate and R0010 a conflict of a's rows.
    assert (by_name["c.jsonl.gz"]["canonical"], by_name["c.jsonl.gz"]["duplicates"], by_name["c.jsonl.gz"]["quarantined"]) == (150, 51, 1)
    assert (by_name["a.jsonl.gz"]["canonical"], by_name["a.jsonl.gz"]["duplicates"]) == (300, 1)
    canonical = read_canonical(root)
    r10 = canonical.filter(pc.equal(canonical.column("reviewer_id"), "R0010")).to_pylist()
    assert len(r10) == 1 and r10[0]["source"].endswith("a.jsonl.gz") and r10[0]["rating"] == 1 + 10 % 5
    conflicts = pq.read_table(root.quarantine_file(report["pointer"]["run_id"], "conflicting-duplicates")).to_pylist()
    assert sorted(Path(c["source"]).name for c in conflicts) == ["b.jsonl.gz", "c.jsonl.gz"]
    assert all(c["quarantine_reason"].startswith("conflicting duplicate: review_id ") for c in conflicts)
    assert any(orjson.loads(c["raw"])["reviewer_id"] == "R0010" for c in conflicts)


def test_incremental_add_change_remove_then_no_change(tmp_path):
    raw = tmp_path / "raw"
    corpus(raw)
    manifest = write_manifest(tmp_path)
    root = DataRoot(str(tmp_path / "root"))
    first = ingest_all(root, manifest, chunk_rows=64, bucket_rows=40)
    assert first["totals"]["reused_files"] == 0
    (raw / "c.jsonl.gz").unlink()  # removed
    write_dump(raw, "b.jsonl.gz", [review(i) for i in range(200, 460)] + [review(0, rating=1 + (1 + 0 % 5) % 5)])  # changed
    write_dump(raw, "d.jsonl.gz", [review(i) for i in range(700, 720)] + [review(201)])  # added
    second = ingest_all(root, manifest, chunk_rows=64, bucket_rows=40)
    reused = {Path(r["source"]).name: r["reused"] for r in second["files"]}
    assert reused == {"a.jsonl.gz": True, "b.jsonl.gz": False, "d.jsonl.gz": False}

    fresh = DataRoot(str(tmp_path / "fresh"))
    expected = ingest_all(fresh, manifest, chunk_rows=64, bucket_rows=40, reuse=False)
    strip = lambda report: [{k: v for k, v in r.items() if k not in ("reused", "quarantine_file")} for r in report["files"]]  # noqa: E731
    assert strip(second) == strip(expected)
    assert snapshot_rows(root) == snapshot_rows(fresh)
    assert observed(root, second) == reference_dedup(root, second)
    # Only the live snapshot's files keep staged rows: c's are gone.
    assert sorted(Path(p).name for p in root.fs.ls(root.staged_store())) == sorted(r["staged_key"] for r in second["files"])

    third = ingest_all(root, manifest, chunk_rows=64, bucket_rows=40)
    assert third["totals"]["reused_files"] == 3 and third["unchanged_since"] == second["pointer"]["run_id"]
    assert third["pointer"] == second["pointer"] == root.read_json(root.canonical_pointer())
    assert [r["canonical"] for r in third["files"]] == [r["canonical"] for r in second["files"]]
    assert len(root.fs.ls(root.join("ingest_reports"))) == 3  # the unchanged run is on record too
