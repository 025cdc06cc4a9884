"""Malformed nightly batches (issue "Hostile input, round two", item 7): a string rating
column is cast per row, its bad values quarantined with the raw value; dictionary-encoded
columns are decoded and scored; a truncated or corrupt file fails the night naming it.
Rows read always equal rows scored plus rows quarantined."""

from __future__ import annotations

import datetime as dt
import posixpath
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot
from sentiment_model.model.registry import load_classifier
from sentiment_model.scoring.batch import BatchValidationError, list_day_files, score_file

DAY = dt.date(2015, 8, 31)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def classifier(tiny_champion_root):
    return load_classifier(tiny_champion_root, "champion")


@pytest.fixture
def good(tiny_champion_root) -> pa.Table:
    return pq.read_table(list_day_files(tiny_champion_root, DAY)[0]).slice(0, 8)


def with_column(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


def quarantined(root: DataRoot, run_id: str) -> pa.Table:
    return pq.read_table(posixpath.join(root.scored_dir(DAY), f"quarantine-run={run_id}", "part-00000.parquet"))


def test_a_string_rating_column_is_cast_per_row_and_bad_values_are_quarantined(classifier, good, tmp_path):
    root = DataRoot(str(tmp_path / "root"))
    ratings = pa.array(["5", "five", "", " 4 ", None, "3.0", "2.5", "9"])
    path = tmp_path / "strings.parquet"
    pq.write_table(with_column(good, "rating", ratings), path)
    result = score_file(root, classifier, str(path), DAY, "r1", 0, NOW)
    assert result.rows_read == 8 and result.rows_read == result.scored + result.quarantined
    assert result.quarantine_reasons == {"rating is not a number": 1, "rating is not a whole star": 1, "rating outside 1-5": 1}
    bad = quarantined(root, "r1")
    assert sorted(bad.column("quarantine_reason").to_pylist()) == ["rating is not a number", "rating is not a whole star", "rating outside 1-5"]
    assert any("'rating': 'five'" in raw for raw in bad.column("raw").to_pylist())  # the raw value, as read
    scored = pq.read_table(result.part).sort_by("review_id")
    expected = {rid: r for rid, r in zip(good.column("review_id").to_pylist(), [5, None, None, 4, None, 3, None, None], strict=True)}
    assert {rid: expected[rid] for rid in scored.column("review_id").to_pylist()} == dict(zip(scored.column("review_id").to_pylist(), scored.column("rating").to_pylist(), strict=True))


def test_dictionary_encoded_columns_are_decoded_and_scored(classifier, good, tmp_path):
    root = DataRoot(str(tmp_path / "root"))
    plain = tmp_path / "plain.parquet"
    pq.write_table(good, plain)
    encoded = good
    for name in ("text", "title", "product_id", "review_id"):
        encoded = with_column(encoded, name, good.column(name).dictionary_encode())
    path = tmp_path / "dictionary.parquet"
    pq.write_table(encoded, path)
    assert pa.types.is_dictionary(pq.read_schema(path).field("text").type)
    result = score_file(root, classifier, str(path), DAY, "r1", 0, NOW)
    assert (result.rows_read, result.scored, result.quarantined) == (8, 8, 0)
    reference = score_file(DataRoot(str(tmp_path / "reference")), classifier, str(plain), DAY, "r1", 0, NOW)
    assert pq.read_table(result.part).equals(pq.read_table(reference.part))


def corrupt_copies(good: pa.Table, folder) -> dict[str, bytes]:
    """The same file truncated at several points and with damaged bytes inside."""
    pq.write_table(pa.concat_tables([good] * 50), folder / "whole.parquet", row_group_size=100)
    whole = (folder / "whole.parquet").read_bytes()
    copies = {f"cut-{fraction}.parquet": whole[: int(len(whole) * fraction)] for fraction in (0.1, 0.5, 0.9, 0.999)}
    for offset in (0.2, 0.5):  # a page's compressed bytes overwritten: the footer still reads
        damaged = bytearray(whole)
        start = int(len(whole) * offset)
        damaged[start : start + 64] = bytes(64)
        copies[f"damaged-{offset}.parquet"] = bytes(damaged)
    return copies


def test_a_truncated_or_corrupt_file_fails_naming_itself_in_one_line(classifier, good, tmp_path):
    root = DataRoot(str(tmp_path / "root"))
    for name, data in corrupt_copies(good, tmp_path).items():
        path = tmp_path / name
        path.write_bytes(data)
        try:
            result = score_file(root, classifier, str(path), DAY, "r1", 0, NOW)
        except BatchValidationError as exc:
            assert isinstance(exc, ConfigError)  # the CLI's one line, exit 2
            assert str(exc).startswith(f"{path}: not a readable Parquet file") and "\n" not in str(exc).strip(), str(exc)
        else:  # damage inside a value (not its page header or compression) can still read
            assert result.rows_read == result.scored + result.quarantined == 400, name


def test_a_night_with_a_truncated_file_fails_naming_it(prefect_harness, tiny_champion_root, good, tmp_path):
    from flows.nightly_scoring import nightly_scoring
    from sentiment_model.scoring.config import ScoringConfig

    root = DataRoot(str(tmp_path / "root"))
    shutil.copytree(tiny_champion_root.url, root.path)
    before = root.fs.cat_file(root.scored_manifest(DAY)) if root.exists(root.scored_manifest(DAY)) else None
    broken = posixpath.join(root.incoming_dir(DAY), "part-00099.parquet")
    data = next(iter(corrupt_copies(good, tmp_path).values()))
    root.fs.pipe_file(broken, data)
    state = nightly_scoring(data_root=root.url, config=ScoringConfig(run_date=DAY), return_state=True)
    assert state.is_failed()
    with pytest.raises(ConfigError, match=rf"^{broken}: not a readable Parquet file"):
        state.result()
    after = root.fs.cat_file(root.scored_manifest(DAY)) if root.exists(root.scored_manifest(DAY)) else None
    assert after == before  # nothing published for the night
