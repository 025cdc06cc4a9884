"""Each reader on small hand-written fixtures, broken records included."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from sentiment_model.core.layout import DataRoot
from sentiment_model.ingest.dedup import read_staged_rows
from sentiment_model.ingest.pipeline import FileResult, SourceFileError, ingest_file
from sentiment_model.ingest.sources import build_spec

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def run_file(root: DataRoot, spec_entry: dict, path: Path, index: int = 0) -> tuple[FileResult, list[dict], list[dict]]:
    spec = build_spec({"name": "fixture", "uri": str(path), **spec_entry})
    result = ingest_file(root, "run1", spec, str(path), index, ingested_at=NOW, chunk_rows=3)
    rows = read_staged_rows(root.fs, result.staged_parts).to_pylist()
    quarantine = pq.read_table(result.quarantine_file).to_pylist() if result.quarantine_file else []
    assert result.records_read == result.valid + result.quarantined
    return result, rows, quarantine


@pytest.fixture
def root(tmp_path: Path) -> DataRoot:
    return DataRoot(str(tmp_path / "root"))


def reasons(quarantine: list[dict]) -> dict[int, str]:
    return {q["record_number"]: q["quarantine_reason"] for q in quarantine}


def test_mcauley_json_lines_quarantines_each_broken_line(root, fixture_copy):
    result, rows, quarantine = run_file(root, {"preset": "mcauley_json"}, fixture_copy("mcauley_2014.jsonl"))
    assert result.records_read == 8  # the blank line is not a record
    why = reasons(quarantine)
    assert why[3].startswith("malformed JSON")
    assert why[4] == "missing text: title and body are empty"
    assert why[5] == "rating outside 1-5: '6'"
    assert why[6] == "malformed JSON: line is not an object"
    assert len(rows) == 4
    by_reviewer = {r["reviewer_id"]: r for r in rows}
    assert by_reviewer["AUSER0001"]["rating"] == 2
    assert by_reviewer["AUSER0001"]["review_time"] == dt.datetime(2014, 2, 28, tzinfo=dt.UTC)
    assert by_reviewer["AUSER0006"]["rating"] == 1  # rating given as the string "1.0"
    assert by_reviewer["AUSER0002"]["title"] == "Works great"
    # The exact repeat gets the same review_id (dedup happens at merge time).
    ids = [r["review_id"] for r in rows if r["reviewer_id"] == "AUSER0002"]
    assert len(ids) == 2 and ids[0] == ids[1] and len(ids[0]) == 32


def test_invalid_utf8_line_is_quarantined_not_fatal(root, tmp_path):
    path = tmp_path / "bad_bytes.jsonl"
    good = b'{"reviewerID": "A1", "asin": "B1", "reviewText": "fine", "overall": 4.0, "unixReviewTime": 1400000000}\n'
    path.write_bytes(good + b'{"reviewerID": "A2", "asin": "B1", "reviewText": "caf\xe9", "overall": 4.0, "unixReviewTime": 1400000002}\n')
    result, rows, quarantine = run_file(root, {"preset": "mcauley_json"}, path)
    assert len(rows) == 1
    assert quarantine[0]["quarantine_reason"].startswith("undecodable bytes")
    assert quarantine[0]["record_number"] == 2


def test_reviews23_jsonl_uses_millisecond_timestamps_and_parent_asin(root, fixture_copy):
    result, rows, quarantine = run_file(root, {"preset": "reviews23_jsonl"}, fixture_copy("reviews23.jsonl"))
    assert [r["product_id"] for r in rows] == ["B0KETTLE00", "B0KETTLE00"]
    assert rows[0]["review_time"] == dt.datetime(2020, 5, 4, 18, 10, 55, tzinfo=dt.UTC)
    assert rows[1]["rating"] == 1
    assert reasons(quarantine) == {3: "rating missing"}


def test_headerless_csv_with_quoted_newlines_and_short_row(root, fixture_copy):
    names = ["reviewerID", "asin", "reviewerName", "helpful", "reviewText", "overall", "summary", "unixReviewTime", "reviewTime"]
    result, rows, quarantine = run_file(root, {"preset": "mcauley_csv", "header": False, "column_names": names}, fixture_copy("mcauley_headerless.csv"))
    assert result.records_read == 3
    assert [r["reviewer_id"] for r in rows] == ["AUSER0002", "AUSER0010"]
    assert rows[1]["text"] == "Loud hum.\nSecond line of the review."
    assert "fields, expected 9" in quarantine[0]["quarantine_reason"]
    assert "Too few fields" in quarantine[0]["raw"]


def test_csv_json_and_csv_exports_share_review_ids(root, fixture_copy):
    """The same McAuley review in JSON and in the Kaggle CSV hashes to one review_id."""
    names = ["reviewerID", "asin", "reviewerName", "helpful", "reviewText", "overall", "summary", "unixReviewTime", "reviewTime"]
    _, csv_rows, _ = run_file(root, {"preset": "mcauley_csv", "header": False, "column_names": names}, fixture_copy("mcauley_headerless.csv"), 0)
    _, json_rows, _ = run_file(root, {"preset": "mcauley_json"}, fixture_copy("mcauley_2014.jsonl"), 1)
    assert {r["review_id"] for r in csv_rows} & {r["review_id"] for r in json_rows}


CSV_COLUMNS = {"product_id": "id", "reviewer_id": "reviews.username", "rating": "reviews.rating", "title": "reviews.title", "text": "reviews.text", "review_time": "reviews.date"}


def test_bom_crlf_csv_with_na_rating(root, fixture_copy):
    spec = {"preset": "csv", "columns": CSV_COLUMNS, "time_format": "iso8601", "dedup_namespace": "df", "dedup_fields": ["reviews.username", "reviews.text"]}
    result, rows, quarantine = run_file(root, spec, fixture_copy("bom_crlf.csv", gz=True))
    assert [r["rating"] for r in rows] == [5, 1]
    assert rows[1]["text"] == 'Died in the remote, "dead on arrival"'
    assert rows[0]["review_time"] == dt.datetime(2017, 3, 2, tzinfo=dt.UTC)
    assert reasons(quarantine) == {3: "rating missing"}
    assert orjson.loads(quarantine[0]["raw"])["reviews.text"] == "No rating here"


def test_cp1252_csv_with_star_phrases(root, fixture_copy):
    spec = {
        "preset": "csv",
        "encoding": "cp1252",
        "time_format": "%d %B %Y",
        "columns": {"product_id": "product", "rating": "review_rating", "text": "review_text", "review_time": "reviewed_at"},
        "dedup_namespace": "iphone",
        "dedup_fields": "*",
        "dedup_exclude": ["record"],
    }
    result, rows, quarantine = run_file(root, spec, fixture_copy("cp1252.csv"))
    assert rows[0]["text"] == "\u201cDecent\u201d but costs \u20ac900"
    assert [r["rating"] for r in rows] == [3, 5]
    assert rows[0]["review_time"] == dt.datetime(2018, 12, 12, tzinfo=dt.UTC)
    assert reasons(quarantine) == {3: "rating is not a number: 'five stars'"}


def test_missing_mapped_column_fails_the_file_with_its_name(root, fixture_copy):
    spec = {"preset": "csv", "columns": {**CSV_COLUMNS, "rating": "stars"}, "dedup_namespace": "x", "dedup_fields": ["reviews.text"], "time_format": "iso8601"}
    path = fixture_copy("bom_crlf.csv")
    with pytest.raises(SourceFileError, match=r"bom_crlf\.csv.*'stars'"):
        run_file(root, spec, path)
    assert not root.fs.exists(root.staged_store()) or not root.fs.find(root.staged_store())


def test_aws_tsv_keeps_literal_quotes_and_quarantines_short_rows(root, fixture_copy):
    result, rows, quarantine = run_file(root, {"preset": "aws_tsv"}, fixture_copy("aws.tsv"))
    assert result.records_read == 5  # the two trailing empty lines are not records
    assert rows[0]["title"] == 'Love the "classic" look'
    assert rows[0]["text"].startswith("Keeps time. 10/10")
    assert rows[2]["text"] == "" and rows[2]["title"] == "Headline only"  # empty body kept: it has a title
    assert rows[1]["review_time"] == dt.datetime(2015, 8, 30, tzinfo=dt.UTC)
    assert rows[0]["review_id"] == rows[3]["review_id"]  # same AWS review_id twice
    assert len(quarantine) == 1 and "fields, expected 15" in quarantine[0]["quarantine_reason"]


def test_snap_text_blocks_latin1_and_malformed_blocks(root, fixture_copy):
    result, rows, quarantine = run_file(root, {"preset": "snap2013_text"}, fixture_copy("snap.txt", gz=True))
    assert result.records_read == 3
    assert len(rows) == 1 and rows[0]["text"] == "My dog loves these treats. Caf\u00e9 quality."
    why = reasons(quarantine)
    assert "lacks key(s) ['review/score']" in why[2]
    assert "is not 'key: value'" in why[3]


def test_truncated_gzip_fails_with_the_file_name(root, tmp_path, fixture_copy):
    whole = fixture_copy("mcauley_2014.jsonl", gz=True).read_bytes()
    broken = tmp_path / "truncated.jsonl.gz"
    broken.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SourceFileError, match=r"truncated\.jsonl\.gz: truncated or corrupt compressed file") as info:
        run_file(root, {"preset": "mcauley_json"}, broken)
    assert info.value.transient is False


def test_gzip_is_transparent(root, fixture_copy):
    _, plain, _ = run_file(root, {"preset": "aws_tsv"}, fixture_copy("aws.tsv"), 0)
    _, gz, _ = run_file(root, {"preset": "aws_tsv"}, fixture_copy("aws.tsv", gz=True), 1)
    assert [r["review_id"] for r in plain] == [r["review_id"] for r in gz]


def test_big_file_streams_in_chunks(root, tmp_path):
    path = tmp_path / "many.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        for i in range(2_000):
            handle.write(orjson.dumps({"reviewerID": f"R{i}", "asin": "B1", "reviewText": f"review {i}", "overall": 1 + i % 5, "unixReviewTime": 1_400_000_000 + i}).decode() + "\n")
    spec = build_spec({"name": "many", "uri": str(path), "preset": "mcauley_json"})
    result = ingest_file(root, "run1", spec, str(path), 0, ingested_at=NOW, chunk_rows=100)
    staged = pq.ParquetFile(result.staged_parts[0])
    assert result.records_read == 2_000 and staged.metadata.num_rows == 2_000
    assert staged.metadata.num_row_groups > 1  # cut by hash slot, so a bucket reads only its own


def test_csv_declared_utf8_with_cp1252_bytes_quarantines_only_those_rows(root, tmp_path):
    path = tmp_path / "wrong_encoding.csv"
    path.write_bytes(b"product,rating,text\r\nP1,5,plain ascii is fine\r\nP1,4,caf\xe9 au lait\r\nP1,2,\x80 short row\r\n")
    spec = {"preset": "csv", "columns": {"product_id": "product", "rating": "rating", "text": "text"}, "dedup_namespace": "x", "dedup_fields": ["text"]}
    result, rows, quarantine = run_file(root, spec, path)
    assert [r["text"] for r in rows] == ["plain ascii is fine"]
    assert [q["quarantine_reason"] for q in quarantine] == ["undecodable bytes: not valid utf-8"] * 2
    assert "caf\ufffd au lait" in quarantine[0]["raw"]


def test_huge_text_emoji_rtl_and_control_characters_survive(root, tmp_path):
    from sentiment_model.ingest.normalize import MAX_TEXT_CHARS

    texts = ["word " * 200_000, "Love it \U0001f60d\U0001f44d", "\u05de\u05d5\u05e6\u05e8 \u05de\u05e6\u05d5\u05d9\u05df \u0645\u0645\u062a\u0627\u0632", "bell\x07 and tab\t and nul\x00 inside"]
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps({"reviewerID": f"R{i}", "asin": "B1", "reviewText": t, "overall": 5, "unixReviewTime": 1400000000}) for i, t in enumerate(texts)))
    result, rows, quarantine = run_file(root, {"preset": "mcauley_json"}, path)
    assert quarantine == [] and len(rows) == 4
    by_id = {r["reviewer_id"]: r["text"] for r in rows}
    assert len(by_id["R0"]) == MAX_TEXT_CHARS  # 1 MB of text is kept, cut to the cap
    assert by_id["R1"].endswith("\U0001f60d\U0001f44d") and by_id["R2"].startswith("\u05de") and "\x00" in by_id["R3"]


# --- one bad value must not fail the whole file -----------------------------------------


def _jsonl(path: Path, records: list[dict], encoding: str = "utf-8", prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + "\n".join(orjson.dumps(r).decode() for r in records).encode(encoding) + b"\n")
    return path


def test_epoch_unit_is_detected_and_out_of_range_times_are_quarantined(root, tmp_path):
    seconds = 1_400_000_000
    times = [seconds, seconds * 1000 + 123, seconds * 1_000_000, seconds * 1_000_000_000, 1, int(NOW.timestamp()) + 3 * 86_400, "1" * 23, -5]
    path = _jsonl(tmp_path / "times.jsonl", [{"reviewerID": f"R{i}", "asin": "B", "reviewText": "ok", "overall": 5, "unixReviewTime": t} for i, t in enumerate(times)])
    result, rows, quarantine = run_file(root, {"preset": "mcauley_json"}, path)
    when = dt.datetime.fromtimestamp(seconds, dt.UTC)
    assert {r["reviewer_id"]: r["review_time"] for r in rows} == {"R0": when, "R1": when, "R2": when, "R3": when}
    why = reasons(quarantine)
    assert sorted(why) == [5, 6, 7, 8]
    assert all(w.startswith("review_time outside 1990-01-01 .. 2026-01-03 (epoch s, ms, us or ns): ") for w in why.values())
    assert why[7].endswith("'" + "1" * 23 + "'")


def test_out_of_range_dates_in_text_formats_are_quarantined(root, tmp_path):
    path = tmp_path / "dates.csv"
    path.write_text("product,rating,text,date\nP,5,old,0001-01-01\nP,5,fine,2015-08-31\nP,5,future,2999-01-01\n")
    spec = {
        "preset": "csv",
        "columns": {"product_id": "product", "rating": "rating", "text": "text", "review_time": "date"},
        "time_format": "%Y-%m-%d",
        "dedup_namespace": "x",
        "dedup_fields": ["text"],
    }
    _, rows, quarantine = run_file(root, spec, path)
    assert [r["text"] for r in rows] == ["fine"]
    assert reasons(quarantine) == {1: "review_time outside 1990-01-01 .. 2026-01-03: '0001-01-01'", 3: "review_time outside 1990-01-01 .. 2026-01-03: '2999-01-01'"}


def test_snap_text_block_with_an_undecodable_byte_is_quarantined_alone(root, tmp_path):
    block = "product/productId: B{i}\nreview/userId: U{i}\nreview/score: 5.0\nreview/time: 1400000000\nreview/summary: ok\nreview/text: {text}\n"
    data = b"\n".join(block.format(i=i, text="caf\u00e9" if i != 1 else "plain").encode("utf-8") for i in range(3))
    data = data.replace(b"U0\n", b"U0\xff\n")  # one stray byte in the first block
    path = tmp_path / "snap_utf8.txt"
    path.write_bytes(data)
    result, rows, quarantine = run_file(root, {"preset": "snap2013_text", "encoding": "utf-8"}, path)
    assert [r["reviewer_id"] for r in rows] == ["U1", "U2"] and rows[1]["text"] == "caf\u00e9"
    assert reasons(quarantine) == {1: "undecodable bytes: not valid utf-8"}
    assert "U0\ufffd" in quarantine[0]["raw"]


def test_csv_field_longer_than_a_block_does_not_fail_the_file(root, tmp_path):
    from sentiment_model.ingest.normalize import MAX_TEXT_CHARS

    lines = ["product,rating,text"] + [f"P,5,review {i}" for i in range(30)]
    lines[10] = 'P,5,"' + "\u00e9" * 3_000_000 + '"'  # 6 MB of UTF-8: longer than the 4 MB block
    path = tmp_path / "long_field.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {"preset": "csv", "columns": {"product_id": "product", "rating": "rating", "text": "text"}, "dedup_namespace": "x", "dedup_fields": ["text"]}
    result, rows, quarantine = run_file(root, spec, path)
    assert result.records_read == 30 and quarantine == []
    assert [len(r["text"]) for r in rows].count(MAX_TEXT_CHARS) == 1  # kept, cut to the cap
    assert sorted(r["text"] for r in rows if len(r["text"]) < 100) == sorted(f"review {i}" for i in range(30) if i != 9)


def test_csv_record_numbers_count_rejected_rows_and_survive_re_reads(root, tmp_path, monkeypatch):
    """Issue 12: the short row gets its own record number and later rows keep theirs,
    across pyarrow blocks (read ahead) and a re-read with a bigger block."""
    from sentiment_model.ingest import csv_reader

    monkeypatch.setattr(csv_reader, "_CSV_BLOCK_BYTES", 64)
    lines = ["product,rating,text"]
    for i in range(1, 61):
        if i % 7 == 0:
            lines.append(f"P,short {i}")
        elif i % 11 == 0:
            lines.append(f'P,x,"not a number\nrow {i}"')
        elif i == 30:
            lines.append("P,5," + "long " * 40)  # longer than a 64-byte block: forces a re-read
        else:
            lines.append(f"P,5,row {i}")
    path = tmp_path / "numbers.csv"
    path.write_text("\n".join(lines) + "\n")
    spec = {"preset": "csv", "columns": {"product_id": "product", "rating": "rating", "text": "text"}, "dedup_namespace": "x", "dedup_fields": ["text"]}
    result, rows, quarantine = run_file(root, spec, path)
    assert result.records_read == 60
    why = reasons(quarantine)
    assert {n for n, w in why.items() if "fields, expected 3" in w} == {i for i in range(1, 61) if i % 7 == 0}
    assert {n for n, w in why.items() if w.startswith("rating is not a number")} == {i for i in range(1, 61) if i % 11 == 0 and i % 7}
    assert len(rows) == 60 - len(why) and len({r["text"] for r in rows}) == len(rows)


def test_declared_encoding_is_honoured_for_json_lines(root, tmp_path):
    record = {"reviewerID": "R1", "asin": "B", "reviewText": "caf\u00e9 \u20ac5", "overall": 5, "unixReviewTime": 1400000000}
    result, rows, quarantine = run_file(root, {"preset": "mcauley_json", "encoding": "cp1252"}, _jsonl(tmp_path / "cp.jsonl", [record], "cp1252"))
    assert quarantine == [] and rows[0]["text"] == "caf\u00e9 \u20ac5"


UTF16_CASES = [
    (
        "mcauley_json",
        "r.jsonl",
        lambda: "\n".join(orjson.dumps({"reviewerID": f"R{i}", "asin": "B", "reviewText": f"t\u00e9 {i}", "overall": 5, "unixReviewTime": 1400000000}).decode() for i in range(3)) + "\n",
    ),
    ("aws_tsv", "r.tsv", lambda: (FIXTURES_DIR / "aws.tsv").read_text()),
    ("snap2013_text", "r.txt", lambda: (FIXTURES_DIR / "snap.txt").read_bytes().decode("latin-1")),
]
FIXTURES_DIR = Path(__file__).parents[2] / "fixtures"


@pytest.mark.parametrize(("preset", "name", "content"), UTF16_CASES)
def test_utf16_file_fails_with_one_clear_message_unless_declared(root, tmp_path, preset, name, content):
    plain = tmp_path / f"plain-{name}"
    plain.write_text(content(), encoding="utf-8" if preset != "snap2013_text" else "latin-1")
    _, expected_rows, expected_quarantine = run_file(root, {"preset": preset}, plain, 0)
    wide = tmp_path / name
    wide.write_bytes(content().encode("utf-16"))  # with a BOM (FF FE on little-endian)
    with pytest.raises(SourceFileError, match=rf"{name}: unreadable source: wrong encoding: file looks like UTF-16 \(byte-order mark FF FE\).*declare encoding = \"utf-16\""):
        run_file(root, {"preset": preset}, wide, 1)
    _, rows, quarantine = run_file(root, {"preset": preset, "encoding": "utf-16"}, wide, 2)
    assert [r["review_id"] for r in rows] == [r["review_id"] for r in expected_rows]
    assert [q["record_number"] for q in quarantine] == [q["record_number"] for q in expected_quarantine]


@pytest.mark.parametrize(("preset", "name", "content"), UTF16_CASES)
def test_leading_utf8_bom_costs_no_record(root, tmp_path, preset, name, content):
    plain = tmp_path / f"plain-{name}"
    plain.write_bytes(content().encode("utf-8"))
    bom = tmp_path / name
    bom.write_bytes(b"\xef\xbb\xbf" + content().encode("utf-8"))
    encoding = {"encoding": "utf-8"} if preset == "snap2013_text" else {}
    first, expected_rows, expected_quarantine = run_file(root, {"preset": preset, **encoding}, plain, 0)
    second, rows, quarantine = run_file(root, {"preset": preset, **encoding}, bom, 1)
    assert second.records_read == first.records_read
    assert [r["review_id"] for r in rows] == [r["review_id"] for r in expected_rows] and len(rows) > 0
    assert len(quarantine) == len(expected_quarantine)


def test_utf8_bom_on_a_file_declared_latin1_is_not_text(root, tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES_DIR / "snap.txt").read_bytes())
    _, rows, _ = run_file(root, {"preset": "snap2013_text"}, path)
    assert len(rows) == 1 and rows[0]["product_id"] == "B00FOOD001"
