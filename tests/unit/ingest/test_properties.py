"""Property-based tests: any bytes into a reader come out as canonical rows or quarantine
rows (counts adding up), never an exception that loses the file; any text tokenizes."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sentiment_model.core.errors import SourceFormatError
from sentiment_model.ingest.chunks import looks_like_utf16
from sentiment_model.ingest.normalize import normalize_chunk
from sentiment_model.ingest.readers import read_raw_chunks
from sentiment_model.ingest.sources import build_spec
from sentiment_model.model.text import OOV_ID, Vocabulary, tokenize

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_line = st.one_of(
    st.binary(max_size=80),
    st.builds(
        lambda r, t, u: f'{{"reviewerID": "A", "asin": "B", "reviewText": {t!r}, "overall": {r}, "unixReviewTime": {u}}}'.replace("'", '"').encode("utf-8", "surrogatepass"),
        st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-5, 10), st.just('"NA"'), st.just("null")),
        st.text(alphabet=st.characters(blacklist_characters='"\\\n\r', blacklist_categories=("Cs",)), max_size=30),
        st.integers(-10, 2**40),
    ),
)


def run(spec_entry: dict, data: bytes, chunk_rows: int = 7) -> tuple[int, int, int]:
    """(records read, canonical, quarantined) after reading and normalizing ``data``."""
    spec = build_spec({"name": "prop", "uri": "x", **spec_entry})
    if looks_like_utf16(data[:4096]):  # the one whole-file error: a clear "wrong encoding"
        with pytest.raises(SourceFormatError, match="wrong encoding: file looks like UTF-16"):
            read_raw_chunks(spec, io.BytesIO(data), chunk_rows)
        assume(False)  # checked; no counts to compare
    read = valid = rejected = 0
    for chunk in read_raw_chunks(spec, io.BytesIO(data), chunk_rows):
        rows, bad = normalize_chunk(chunk.table, spec, "prop", NOW)
        read += chunk.table.num_rows + len(chunk.rejected)
        valid += rows.num_rows
        rejected += len(chunk.rejected) + len(bad)
    return read, valid, rejected


@FAST
@given(st.lists(json_line, max_size=25))
def test_json_lines_any_bytes(lines):
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    read, valid, rejected = run({"preset": "mcauley_json"}, b"\n".join(lines))
    assert read == valid + rejected == sum(1 for line in lines if line.strip())


@FAST
@given(st.lists(st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\t", b" ").replace(b"\n", b" ").replace(b"\r", b" ")), min_size=1, max_size=17), max_size=20))
def test_tab_separated_any_bytes(rows):
    header = b"\t".join(
        [
            b"marketplace",
            b"customer_id",
            b"review_id",
            b"product_id",
            b"product_parent",
            b"product_title",
            b"product_category",
            b"star_rating",
            b"helpful_votes",
            b"total_votes",
            b"vine",
            b"verified_purchase",
            b"review_headline",
            b"review_body",
            b"review_date",
        ]
    )
    body = [b"\t".join(fields) for fields in rows]
    read, valid, rejected = run({"preset": "aws_tsv"}, b"\n".join([header, *body]) + b"\n")
    assert read == valid + rejected == sum(1 for line in body if line)


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["review/score", "review/text", "review/userId", "review/time", "junk", "product/productId", "review/summary"]),
            st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=20),
        ),
        max_size=30,
    )
)
def test_snap_text_any_blocks(pairs):
    text = "\n".join(f"{k}: {v}" if i % 6 else "" for i, (k, v) in enumerate(pairs))
    read, valid, rejected = run({"preset": "snap2013_text"}, text.encode("latin-1", "replace"))
    assert read == valid + rejected


@FAST
@given(st.lists(st.text(max_size=200), min_size=1, max_size=20))
def test_tokenizer_any_text(texts):
    tokens = tokenize(texts).to_pylist()
    assert len(tokens) == len(texts)
    assert all(t and not any(c.isspace() for c in t) for row in tokens for t in row)
    vocab = Vocabulary.build(tokenize(texts), max_size=50, min_count=1)
    ids, lengths = vocab.encode(texts, max_length=16)
    assert ids.shape == (len(texts), 16) and (lengths >= 1).all()
    assert (ids[:, 0] != 0).all()  # never an all-padding row
    assert ((ids == 0) | (ids >= OOV_ID)).all() and ids.max() < len(vocab)
    # Right padding: once a row has a 0, it has only 0s after it.
    for row, length in zip(ids, lengths, strict=True):
        assert (row[length:] == 0).all() and (row[:length] != 0).all()
    assert np.array_equal(lengths, np.maximum(np.minimum([len(t) for t in tokens], 16), 1))
