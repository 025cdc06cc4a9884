"""A damaged part of the live canonical snapshot: ingest verifies the parts (size and
footer) and rebuilds the snapshot from the staged rows instead of keeping it live;
reading it (stage-batches, retrain) names the part in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot
from sentiment_model.ingest.canonical import current_snapshot, read_canonical
from tests.unit.ingest.test_bucketed_ingest import corpus, ingest_all, write_manifest


def snapshot_parts(root: DataRoot) -> list[Path]:
    return sorted(Path(current_snapshot(root)["path"]).rglob("*.parquet"))


def first_part(root: DataRoot) -> Path:
    return snapshot_parts(root)[0]


@pytest.fixture
def ingested(tmp_path) -> tuple[DataRoot, str, dict]:
    corpus(tmp_path / "raw")
    manifest = write_manifest(tmp_path)
    root = DataRoot(str(tmp_path / "data"))
    return root, manifest, ingest_all(root, manifest)


@pytest.mark.parametrize("damage", ["truncated", "emptied"])
def test_an_unchanged_ingest_rebuilds_a_damaged_live_snapshot(ingested, damage):
    root, manifest, first = ingested
    expected = read_canonical(root)
    part = first_part(root)
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2] if damage == "truncated" else b"")
    second = ingest_all(root, manifest)
    assert "unchanged_since" not in second  # before: "snapshot stays live", a damaged one
    assert second["pointer"]["run_id"] != first["pointer"]["run_id"]
    assert second["rebuilt_damaged_snapshot"]["run_id"] == first["pointer"]["run_id"]
    assert second["rebuilt_damaged_snapshot"]["parts"][0]["file"] == str(part)
    assert read_canonical(root).equals(expected)
    third = ingest_all(root, manifest)  # whole again: the next unchanged run keeps it
    assert third["unchanged_since"] == second["pointer"]["run_id"]


def test_reading_a_damaged_snapshot_names_the_part(ingested):
    root, _, _ = ingested
    part = first_part(root)
    part.write_bytes(part.read_bytes()[:100])
    with pytest.raises(ConfigError) as raised:  # CorruptFileError
        read_canonical(root)
    message = str(raised.value)
    assert str(part) in message and "sentiment ingest" in message and "\n" not in message


def test_a_part_of_another_size_than_written_is_damaged_even_with_a_readable_footer(ingested):
    """The pointer records each part's size: a part replaced by another whole Parquet file
    (a restore of the wrong backup) is caught too."""
    from sentiment_model.ingest.canonical import damaged_snapshot_parts

    root, _, _ = ingested
    parts = snapshot_parts(root)
    if len(parts) < 2:
        pytest.skip("the corpus gave a single part")
    small, large = sorted(parts, key=lambda p: p.stat().st_size)[:: len(parts) - 1]
    small.write_bytes(large.read_bytes())
    damaged = damaged_snapshot_parts(root, root.read_json(root.canonical_pointer()))
    assert [row["file"] for row in damaged] == [str(small)] and "bytes when the snapshot was written" in damaged[0]["reason"]
