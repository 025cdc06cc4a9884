"""One path from text to label: batch scoring, the HTTP service and ``sentiment explain``
all call ``SentimentClassifier.label`` (issue 33), so tricky inputs get the same label
everywhere; a text without a token is ``empty_text`` with zero probabilities in each."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flows.cli import app as cli
from sentiment_model.core.schema import CANONICAL_SCHEMA, EMPTY_TEXT_LABEL, LABELS, MAX_TEXT_CHARS
from sentiment_model.model.registry import load_classifier
from sentiment_model.scoring.batch import score_table
from sentiment_model.serving.app import create_app
from tests.conftest import canonical_rows, synthetic_reviews
from tests.unit.serving.test_service import settings_for, wait_for

# (title, body): what users send that has tripped a path before.
TRICKY = {
    "empty": ("", ""),
    "whitespace": ("  ", "\t\n\r\x0b\x0c \u00a0"),
    "zero-width and control": (None, "\u200b\ufeff\x00\x1b\x7f"),
    "punctuation only": ("...", "--"),
    "emoji only": ("", "\U0001f600\U0001f44d"),
    "angry emoji only": ("", "\U0001f621"),
    "one megabyte": ("Fine", ("great kettle " * 40 + "broke after a week, awful ") * 2_000),
    "non-English": ("Schrecklich", "Der Wasserkocher ist nach einer Woche kaputt gegangen, sehr enttäuscht"),
    "title only": ("waste of money", ""),
    "title only, no body field": ("love it", None),
    "body with a verdict at the end": ("", "the kettle arrived on time. " * 30 + "returned it, terrible"),
}
TOKENLESS = {"empty", "whitespace", "zero-width and control", "punctuation only"}


@pytest.fixture(scope="module")
def champion(tiny_champion_root):
    return load_classifier(tiny_champion_root)


@pytest.fixture(scope="module")
def client(tiny_champion_root):
    with TestClient(create_app(settings_for(tiny_champion_root))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, "the model to load")
        yield client


def batch_scored(champion) -> dict[str, dict]:
    rows = canonical_rows(synthetic_reviews(len(TRICKY), seed=2), dt.date(2015, 9, 5))
    titles = pa.array([title for title, _ in TRICKY.values()], pa.string())
    bodies = pa.array([body for _, body in TRICKY.values()], pa.string())
    rows = rows.set_column(rows.schema.get_field_index("title"), "title", titles).set_column(rows.schema.get_field_index("text"), "text", bodies).cast(CANONICAL_SCHEMA)
    scored = score_table(champion, rows, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).to_pylist()
    return dict(zip(TRICKY, scored, strict=True))


def served(client) -> dict[str, dict]:
    reviews = [{"text": body or "", **({"title": title} if title is not None else {})} for title, body in TRICKY.values()]
    response = client.post("/v1/predict", json={"reviews": reviews})
    assert response.status_code == 200, response.text
    return dict(zip(TRICKY, response.json()["predictions"], strict=True))


def explained(root, title: str | None, body: str | None) -> str:
    result = CliRunner().invoke(cli, ["explain", "--title", title or "", "--data-root", root.url, "--", body or ""])
    assert result.exit_code == 0, result.output
    return result.output.split()[0]


def test_batch_scoring_the_service_and_explain_give_the_same_label(tiny_champion_root, champion, client):
    batch, service = batch_scored(champion), served(client)
    for name, (title, body) in TRICKY.items():
        cli_label = explained(tiny_champion_root, title, body)
        assert batch[name]["predicted_label"] == service[name]["label"] == cli_label, name
        batch_probabilities = [batch[name][f"p_{label}"] for label in LABELS]
        assert np.allclose(batch_probabilities, [service[name]["probabilities"][label] for label in LABELS], atol=1e-5), name


def test_a_text_without_a_token_is_empty_text_with_zero_probabilities_everywhere(champion, client):
    batch, service = batch_scored(champion), served(client)
    for name in TRICKY:
        tokenless = name in TOKENLESS
        assert (batch[name]["predicted_label"] == EMPTY_TEXT_LABEL) is tokenless, name
        assert (service[name]["label"] == EMPTY_TEXT_LABEL) is tokenless, name
        if tokenless:
            assert service[name]["probabilities"] == dict.fromkeys(LABELS, 0.0) and service[name]["truncated"] is False
            assert batch[name]["confidence"] == 0.0 and batch[name]["top_tokens"] == []


def test_a_megabyte_review_is_read_as_far_as_the_cap_and_flagged(champion, client):
    """Batch scoring and the service read the same first MAX_TEXT_CHARS characters of a
    field; the service says the review was cut."""
    assert len(TRICKY["one megabyte"][1]) > 50 * MAX_TEXT_CHARS
    assert served(client)["one megabyte"]["truncated"] is True
    labelled = champion.label(["Fine . " + TRICKY["one megabyte"][1][:MAX_TEXT_CHARS]])
    assert served(client)["one megabyte"]["label"] == labelled.labels[0]
