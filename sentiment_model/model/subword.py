"""A subword vocabulary (BPE or WordPiece, trained on the training split's normalized text
with the Rust `tokenizers` library): misspellings, shorthand and unseen product words
become known pieces instead of one out-of-vocabulary id. Same interface as
:class:`sentiment_model.model.text.Vocabulary` where the model and the registry use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from sentiment_model.model.text import OOV_TOKEN, cut_to_length, normalize_text, pad_right

SubwordKind = Literal["bpe", "wordpiece"]
PAD_TOKEN = "[PAD]"


def _texts(texts: pa.Array | Sequence[str]) -> list[str]:
    return normalize_text(texts).to_pylist()


def _flat(encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Flat piece ids and per-text offsets (from 0) of tokenizer encodings."""
    offsets = np.concatenate([[0], np.cumsum([len(e.ids) for e in encodings])]).astype(np.int64)
    return np.fromiter((i for e in encodings for i in e.ids), dtype=np.int32, count=int(offsets[-1])), offsets


@dataclass(frozen=True)
class SubwordVocabulary:
    """A trained subword tokenizer; id 0 is padding and 1 out-of-vocabulary, as in the
    word vocabulary."""

    kind: SubwordKind
    tokenizer_json: str

    @classmethod
    def build(cls, texts: pa.Array | Sequence[str], kind: SubwordKind = "bpe", size: int = 20_000, min_count: int = 2) -> SubwordVocabulary:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        specials = [PAD_TOKEN, OOV_TOKEN]
        if kind == "bpe":
            tokenizer = Tokenizer(models.BPE(unk_token=OOV_TOKEN, continuing_subword_prefix="##"))
            trainer: Any = trainers.BpeTrainer(vocab_size=size, min_frequency=min_count, special_tokens=specials, continuing_subword_prefix="##", show_progress=False)
        else:
            tokenizer = Tokenizer(models.WordPiece(unk_token=OOV_TOKEN))
            trainer = trainers.WordPieceTrainer(vocab_size=size, min_frequency=min_count, special_tokens=specials, show_progress=False)
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tokenizer.train_from_iterator(_texts(texts), trainer)
        return cls(kind, tokenizer.to_str())

    @property
    def _tokenizer(self) -> Any:
        cached = self.__dict__.get("_cached")
        if cached is None:
            from tokenizers import Tokenizer

            cached = Tokenizer.from_str(self.tokenizer_json)
            object.__setattr__(self, "_cached", cached)
        return cached

    @property
    def tokens(self) -> tuple[str, ...]:
        """Tokens by id from 2 on (ids 0 and 1 are padding and OOV)."""
        vocab = self._tokenizer.get_vocab()
        return tuple(token for token, _ in sorted(vocab.items(), key=lambda item: item[1]))[2:]

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size()

    def pieces(self, texts: pa.Array | Sequence[str]) -> list[list[str]]:
        """The subword pieces of each text (what the model sees), for explanations."""
        return [encoding.tokens for encoding in self._tokenizer.encode_batch(_texts(texts))]

    def encode(self, texts: pa.Array | Sequence[str], max_length: int, head: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Right-padded ``(n, max_length)`` int32 ids and lengths (>= 1), as Vocabulary.encode."""
        return pad_right(*_flat(self._tokenizer.encode_batch(_texts(texts))), max_length, head)

    def lookup(self, token_lists: pa.ListArray, max_length: int | None = None, head: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Flat piece ids and per-review offsets of already tokenized texts (as
        Vocabulary.lookup; used by input-health statistics), each cut to ``max_length``."""
        ids, offsets = _flat(self._tokenizer.encode_batch([" ".join(tokens) for tokens in token_lists.to_pylist()]))
        return (ids, offsets) if max_length is None else cut_to_length(ids, offsets, max_length, head)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokenizer": self.tokenizer_json}
