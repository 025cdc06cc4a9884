"""Reviews to the teacher's input: the checkpoint's own WordPiece tokenizer (uncased, [CLS]
... [SEP], cut to ``max_length``), on the text every model reads (title and body joined as
``model.text.review_text`` joins them), batched by ``model.batching``'s length buckets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from sentiment_model.core.errors import ConfigError
from sentiment_model.model.text import review_text
from sentiment_model.teacher.weights import INSTALL_HINT, tokenizer_json

#: [PAD]'s id in the checkpoint's vocabulary: what the encoder's attention mask leaves out.
PAD_ID = 0
#: Bucket widths of the teacher's batches (cut at max_length): reviews average ~80 pieces.
TEACHER_BUCKETS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)


class WordPieceTokenizer:
    """The pretrained tokenizer, cutting each review to ``max_length`` pieces."""

    def __init__(self, max_length: int) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ConfigError(f"the teacher tokenizes with the tokenizers package, which is not installed: {INSTALL_HINT}") from None
        self.max_length = max_length
        self._tokenizer = Tokenizer.from_str(tokenizer_json())
        self._tokenizer.no_padding()  # the file pads every row to 128: encode pads to max_length, batches cut to their bucket
        self._tokenizer.enable_truncation(max_length)

    def encode(self, texts: Sequence[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Right-padded ``(n, max_length)`` int32 piece ids ([CLS] first, [SEP] last, 0 =
        [PAD]) and each row's length: ``model.batching`` cuts batches to their bucket."""
        values = texts.to_pylist() if isinstance(texts, pa.Array | pa.ChunkedArray) else list(texts)
        encodings = self._tokenizer.encode_batch([value or "" for value in values])
        ids = np.full((len(encodings), self.max_length), PAD_ID, dtype=np.int32)
        lengths = np.zeros(len(encodings), dtype=np.int32)
        for row, encoding in enumerate(encodings):
            lengths[row] = len(encoding.ids)
            ids[row, : lengths[row]] = encoding.ids
        return ids, lengths

    def pieces(self, text: str) -> list[str]:
        """The pieces of one text (for reading what the teacher sees)."""
        return self._tokenizer.encode(text).tokens


def table_texts(table: pa.Table) -> pa.Array:
    """What the teacher reads of each review of a canonical table: the product's join."""
    return review_text(table.column("title"), table.column("text"))


def bucket_edges(max_length: int) -> tuple[int, ...]:
    """Widths batches are padded to (a few, so compiled graphs are reused), the last
    ``max_length``: a transformer's cost grows with the width, so short reviews stay short."""
    return (*(width for width in TEACHER_BUCKETS if width < max_length), max_length)
