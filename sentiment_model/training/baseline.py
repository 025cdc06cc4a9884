"""The linear baseline every training run is compared with: TF-IDF (1-2 grams) +
logistic regression with balanced class weights, on exactly the same split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from sentiment_model.model.text import normalize_text
from sentiment_model.training.config import SEED


@dataclass
class TfidfBaseline:
    pipeline: Pipeline

    @classmethod
    def fit(cls, texts: pa.Array, labels: np.ndarray, seed: int = SEED) -> TfidfBaseline:
        pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True, token_pattern=r"[^\s]+"),
            LogisticRegression(class_weight="balanced", max_iter=2_000, C=4.0, random_state=seed),
        )
        pipeline.fit(normalize_text(texts).to_pylist(), labels)
        return cls(pipeline)

    def predict_proba(self, texts: pa.Array) -> np.ndarray:
        return self.pipeline.predict_proba(normalize_text(texts).to_pylist())
