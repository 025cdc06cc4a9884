"""The MiniLM teacher (issue 32, item 2): the checkpoint's tensors fill the Keras encoder
exactly, its tokenizer is the uncased WordPiece one, the pretrained sentence embeddings
make sense, and a fine-tune runs, learns and is cached by snapshot and config."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_model.core.layout import DataRoot
from sentiment_model.teacher import cache, finetune
from sentiment_model.teacher.config import TeacherConfig
from sentiment_model.teacher.encoder import embedding_model, pretrained_names, pretrained_teacher
from sentiment_model.teacher.weights import UNUSED_TENSORS, bert_shape, pretrained_tensors
from sentiment_model.teacher.wordpiece import WordPieceTokenizer, table_texts
from tests.conftest import synthetic_reviews

#: The fine-tuning test's config; the module's pretrained model has its head (same seed).
TINY = TeacherConfig(max_length=24, batch_size=16, epochs=1, learning_rate=1e-4, warmup_share=0.0, dropout=0.0, seed=1, eager=True)


@pytest.fixture(scope="module")
def teacher_model():
    model = pretrained_teacher(bert_shape(), dropout=TINY.dropout, seed=TINY.seed)
    model.run_eagerly = True  # a few predictions: no tracing
    return model


def test_every_checkpoint_tensor_fills_one_encoder_weight_and_every_encoder_weight_is_filled(teacher_model):
    model = teacher_model
    names = pretrained_names(model)
    tensors = pretrained_tensors()
    assert set(names) == set(tensors) - set(UNUSED_TENSORS)
    assert set(UNUSED_TENSORS) <= set(tensors)
    filled = [variable.path for variable, _ in names.values()]
    assert len(filled) == len(set(filled)), "two tensors fill one weight"
    head = {variable.path for variable in model.get_layer("classes").weights}
    assert set(filled) == {variable.path for variable in model.weights} - head
    for name, (variable, transpose) in names.items():
        assert tuple(tensors[name].T.shape if transpose else tensors[name].shape) == tuple(variable.shape), name


def test_the_tokenizer_is_uncased_wordpiece_with_cls_and_sep_cut_to_max_length():
    tokenizer = WordPieceTokenizer(max_length=8)
    ids, lengths = tokenizer.encode(["The Kettle BROKE", "the kettle broke", "", "one two three four five six seven eight nine"])
    assert ids.shape == (4, 8) and ids.dtype == np.int32
    assert ids[0, 0] == 101 and ids[0, lengths[0] - 1] == 102
    assert (ids[0] == ids[1]).all() and lengths[0] == lengths[1]  # uncased
    assert lengths[2] == 2 and list(ids[2, :3]) == [101, 102, 0]  # an empty review: [CLS] [SEP]
    assert lengths[3] == 8 and ids[3, 7] == 102  # cut, still closed by [SEP]
    assert tokenizer.pieces("Unboxing")[1:-1] == ["un", "##box", "##ing"]


def test_the_title_and_body_are_joined_as_every_model_reads_them():
    table = synthetic_reviews(2)
    assert table_texts(table).to_pylist()[0] == f"{table.column('title')[0]} . {table.column('text')[0]}"


def test_the_pretrained_embeddings_put_a_paraphrase_nearer_than_an_unrelated_sentence(teacher_model):
    ids, _ = WordPieceTokenizer(32).encode(["the kettle broke after a week", "my kettle stopped working within days", "the weather in Paris is sunny"])
    vectors = np.asarray(embedding_model(teacher_model).predict_on_batch(ids))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    paraphrase, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert paraphrase > 0.6 > 0.2 > unrelated, (paraphrase, unrelated)


def test_padding_does_not_change_a_review_s_embedding(teacher_model):
    ids, lengths = WordPieceTokenizer(24).encode(["great kettle", "a much longer review of a kettle that boils water fast"])
    embed = embedding_model(teacher_model)
    embed.run_eagerly = True
    alone = np.asarray(embed.predict_on_batch(ids[:1, : lengths[0]]))
    padded = np.asarray(embed.predict_on_batch(ids))[:1]
    np.testing.assert_allclose(alone, padded, atol=1e-4)


def _cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-9, 1.0)).mean())


def test_a_two_step_fine_tune_lowers_the_loss_and_the_second_run_comes_from_the_cache(teacher_model, tmp_path, monkeypatch):
    rows = synthetic_reviews(32, seed=3)
    labels = np.asarray(rows.column("label_id").to_numpy())
    config = TINY
    loss_before = _cross_entropy(finetune.Teacher(teacher_model, WordPieceTokenizer(config.max_length), config).predict_proba(table_texts(rows)), labels)

    calls = []
    monkeypatch.setattr(cache, "fine_tune", lambda *args, **kwargs: calls.append(1) or finetune.fine_tune(*args, **kwargs))
    root, lines = DataRoot(str(tmp_path / "root")), []
    teacher = cache.cached_teacher(root, "snapshot-1", rows, rows, config, log=lines.append)
    assert teacher.facts["steps"] == teacher.facts["decay_end_step"] == 2 and not teacher.facts["stopped_by_budget"]
    assert not teacher.facts["cached"] and teacher.facts["train_examples_per_second"] > 0
    probabilities = teacher.predict_proba(table_texts(rows))
    assert _cross_entropy(probabilities, labels) < loss_before
    assert root.exists(root.teacher_file(teacher.facts["key"], cache.WEIGHTS_FILE))

    again = cache.cached_teacher(root, "snapshot-1", rows, rows, config, log=lines.append)
    assert len(calls) == 1 and again.facts["cached"] and "from the cache" in lines[-1]
    np.testing.assert_allclose(again.predict_proba(table_texts(rows)), probabilities, atol=1e-5)
    stored = cache.cached_probabilities(root, again, table_texts(rows), log=lines.append)
    monkeypatch.setattr(finetune.Teacher, "predict_proba", lambda *_: pytest.fail("predicted again"))
    np.testing.assert_array_equal(cache.cached_probabilities(root, again, table_texts(rows)), stored)

    other = cache.teacher_key("snapshot-2", config)
    assert other != cache.teacher_key("snapshot-1", config) != cache.teacher_key("snapshot-1", config.model_copy(update={"max_length": 32}))


def test_the_learning_rate_warms_up_peaks_and_reaches_zero_at_the_decay_end():
    rates = [finetune.warmup_linear_decay(step, 1e-4, warmup=4, end=20) for step in range(22)]
    assert rates[0] == pytest.approx(2.5e-5) and rates[3] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(rates[3:], rates[4:], strict=False))  # only falls after the peak
    assert rates[12] == pytest.approx(0.5e-4) and rates[20] == rates[21] == 0.0
    assert finetune.warmup_linear_decay(0, 1e-4, warmup=0, end=2) == pytest.approx(1e-4)


def test_a_time_budget_moves_the_decay_end_to_the_steps_it_leaves_time_for():
    # 1,844 steps planned; after 100 steps, 600 s left at 2 s a step: 300 more steps.
    assert finetune.budgeted_decay_end(1_844, 100, seconds_left=600.0, seconds_per_step=2.0) == 400
    assert finetune.budgeted_decay_end(1_844, 100, seconds_left=1e6, seconds_per_step=2.0) == 1_844  # never later than planned
    assert finetune.budgeted_decay_end(1_844, 100, seconds_left=-5.0, seconds_per_step=2.0) == 101  # spent: end now
    assert finetune.budgeted_decay_end(1_844, 100, seconds_left=600.0, seconds_per_step=0.0) == 1_844  # pace not yet measured
