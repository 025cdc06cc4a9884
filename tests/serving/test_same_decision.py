"""Item 6: the service decides every text as batch scoring does, empty and control-character
texts included (`empty_text`, probabilities 0); the CLI's `explain` shares batch scoring's
rule (tests/code/test_empty_text.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from sentiment_model.core.schema import EMPTY_TEXT_LABEL, LABELS
from sentiment_model.model.registry import load_classifier
from sentiment_model.model.text import review_text, tokenize
from sentiment_model.scoring.batch import empty_texts, predict_labels
from sentiment_model.serving.app import create_app
from sentiment_model.serving.holder import tokenless
from tests.serving.test_service import settings_for, wait_for

TOKENLESS = [
    ("", ""),
    (None, "\x00\x01\x02\x03"),
    ("", "\u200b\ufeff\u200d"),
    ("  ", "\t\n\r\x0b\x0c"),
    ("...", "--"),
    ("\x1b", "\x7f\x1b\x9b"),
    ("", "\u202e\u202d"),
]
WITH_TOKENS = [
    ("", "great kettle, love it"),
    ("\x1b[31m", "colour codes"),
    ("Junk", "broke\x00after a week"),
    (None, "\x07terrible\x07"),
    ("", "\U0001f600"),
    ("", "ok " * 60),
    ("Fine", ""),
]


@pytest.fixture(scope="module")
def champion(tiny_champion_root):
    return load_classifier(tiny_champion_root)


@pytest.fixture(scope="module")
def client(tiny_champion_root):
    with TestClient(create_app(settings_for(tiny_champion_root))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, "the model to load")
        yield client


def test_tokenless_text_is_empty_text_with_zero_probabilities(client):
    for title, text in TOKENLESS:
        body = client.post("/v1/predict?explain=true", json={"text": text, **({"title": title} if title is not None else {})}).json()
        assert body["label"] == EMPTY_TEXT_LABEL, (title, text, body)
        assert body["probabilities"] == dict.fromkeys(LABELS, 0.0) and body["top_tokens"] == [] and body["truncated"] is False


def test_the_service_decides_every_text_as_batch_scoring_does(client, champion):
    pairs = TOKENLESS + WITH_TOKENS
    reviews = [{"text": text, **({"title": title} if title is not None else {})} for title, text in pairs]
    served = client.post("/v1/predict", json={"reviews": reviews}).json()["predictions"]
    texts = review_text(pa.array([title for title, _ in pairs], pa.string()), pa.array([text for _, text in pairs], pa.string()))
    probabilities, _, labels, _ = predict_labels(champion, texts)
    assert [p["label"] for p in served] == list(labels)
    assert np.allclose([[p["probabilities"][name] for name in LABELS] for p in served], probabilities, atol=1e-5)


def test_serving_rule_is_batch_scorings_rule():
    texts = pa.array([f"{title or ''} . {text}" for title, text in TOKENLESS + WITH_TOKENS] + ["\u00a0", "?", "!!", ":)", "&amp;", "<br/>", "1", "a"])
    assert tokenless(tokenize(texts)).tolist() == empty_texts(texts).tolist()
