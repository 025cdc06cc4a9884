"""Training options on a tiny model: pretrained vectors (.npy + word index), the frozen
channel, the auxiliary star head, class weights and distillation into one network."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentiment_model.model.text import Vocabulary, tokenize
from sentiment_model.model.vectors import VectorsNotFound, read_vectors, vocabulary_matrix
from sentiment_model.training.data import split_train_validation_test, star_ids
from sentiment_model.training.train import TrainConfig, class_weights, train_classifier
from tests.conftest import synthetic_reviews

TINY = dict(frozen_embeddings=None, embedding_dim=16, lstm_units=8, epochs=2, batch_size=32, max_length=24, vocab_size=400, min_count=1, seed=3, embeddings="random")


@pytest.fixture(scope="module")
def splits():
    return split_train_validation_test(synthetic_reviews(400, seed=11), seed=11)


def write_npy_vectors(folder, words, matrix):
    folder.mkdir()
    np.save(folder / "emb.npy", np.asarray(matrix, dtype=np.float32))
    pq.write_table(pa.table({"index": words}), folder / "words.parquet")
    return folder


def test_npy_vectors_and_word_index_fill_the_vocabulary_rows(tmp_path):
    folder = write_npy_vectors(tmp_path / "vec", ["bad", "good", "unrelated"], [[-1, -2], [1, 2], [9, 9]])
    words, vectors = read_vectors(str(folder))
    vocabulary = Vocabulary.build(tokenize(["good bad good missing"]), max_size=10, min_count=1)
    matrix, hits = vocabulary_matrix(words, vectors, vocabulary, missing="zeros")
    assert hits == 2 and matrix.shape == (len(vocabulary), 2)
    assert matrix[vocabulary.tokens.index("good") + 2].tolist() == [1, 2]
    assert matrix[vocabulary.tokens.index("bad") + 2].tolist() == [-1, -2]
    assert not matrix[vocabulary.tokens.index("missing") + 2].any()  # frozen: no fixed noise
    assert not matrix[:2].any()  # padding and OOV rows


def test_unknown_vectors_source_is_one_clear_error(tmp_path):
    with pytest.raises(VectorsNotFound, match="no such vectors"):
        read_vectors(str(tmp_path / "nope.vec"))
    (tmp_path / "mismatch").mkdir()
    np.save(tmp_path / "mismatch" / "emb.npy", np.zeros((3, 2), dtype=np.float32))
    pq.write_table(pa.table({"index": ["a", "b"]}), tmp_path / "mismatch" / "words.parquet")
    with pytest.raises(VectorsNotFound, match="3, 2"):
        read_vectors(str(tmp_path / "mismatch"))


def test_frozen_channel_stays_fixed_and_star_head_is_training_only(splits, tmp_path):
    words = ["great", "terrible", "kettle", "okay"]
    vectors = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    folder = write_npy_vectors(tmp_path / "vec", words, vectors)
    config = TrainConfig(**{**TINY, "frozen_embeddings": str(folder)}, star_loss_weight=0.5, ensemble_size=1)
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    model = result.classifier.model
    assert model.output_shape == (None, 3)  # the saved/scoring model has the class head only
    frozen = np.asarray(model.get_layer("frozen_embedding").get_weights()[0])
    vocabulary = result.classifier.vocabulary
    expected, hits = vocabulary_matrix(pa.array(words), vectors, vocabulary, missing="zeros")
    assert hits == 4 and result.extra["embedding_hits"] == {f"frozen:{folder}": 4}
    np.testing.assert_array_equal(frozen, expected)  # unchanged by training
    assert result.extra["model_config"]["star_head"] and result.extra["model_config"]["frozen_embedding_dim"] == 6
    probabilities = result.classifier.predict_proba(["the kettle is great", "the kettle is terrible"])
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)


def test_star_ids_and_class_weights():
    table = pa.table({"rating": pa.array([1, 3, 5, None], type=pa.int8())})
    assert star_ids(table).tolist() == [0, 2, 4, 2]
    labels = np.array([0, 1, 2, 2, 2, 2, 2, 2])
    balanced = class_weights(labels, "class_weight")
    np.testing.assert_allclose(balanced, [8 / 3, 8 / 3, 8 / 18])
    np.testing.assert_allclose(class_weights(labels, "sqrt_class_weight"), np.sqrt(balanced))
    assert class_weights(labels, "none").tolist() == [1, 1, 1]


def test_distillation_yields_one_network(splits):
    config = TrainConfig(**TINY, ensemble_size=2, distill=True, distill_tolerance=1.0)
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    report = result.extra["distillation"]
    assert report["student_kept"]  # a tolerance of 1.0 always keeps the student
    assert report["ensemble_validation_macro_f1"] >= 0 and report["student_best_epoch"] >= 1
    model = result.classifier.model
    assert not any(layer.name.startswith("member_") for layer in model.layers)  # one network
    assert [h["member"] for h in result.history].count("student") >= 1


# The rule alone: a second distillation run that keeps the ensemble would train three
# more networks (~25 s) to check this comparison; the averaged ensemble it then returns is
# test_seed_ensemble_is_one_model_that_round_trips_and_explains's model.
@pytest.mark.parametrize(
    ("student", "ensemble", "tolerance", "kept"), [(0.80, 0.80, 0.0, True), (0.796, 0.80, 0.005, True), (0.79, 0.80, 0.005, False), (0.99, 0.50, -1.0, False), (0.10, 0.90, 1.0, True)]
)
def test_the_student_is_kept_within_the_tolerance_of_the_ensemble(student, ensemble, tolerance, kept):
    from sentiment_model.training.train import student_is_kept

    assert student_is_kept(student, ensemble, tolerance) is kept


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_subword_vocabulary_trains_saves_and_reloads(splits, tmp_path, kind):
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.model.registry import load_classifier, save_model
    from sentiment_model.model.subword import SubwordVocabulary

    vocabulary = SubwordVocabulary.build(["the kettle is great", "the kettles are terrible", "greatest kettle"] * 5, kind, size=60, min_count=1)
    ids, lengths = vocabulary.encode(["kettles", "", "zzqx great"], max_length=8)
    assert ids.shape == (3, 8) and lengths[1] == 1 and ids[1, 0] == 1  # empty text: one OOV id
    assert (ids[0, : lengths[0]] > 1).all()  # an unseen plural still maps to known pieces
    config = TrainConfig(**{**TINY, "vocabulary": kind, "vocab_size": 120, "epochs": 1}, ensemble_size=1)
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    root = DataRoot(str(tmp_path / "root"))
    metrics = {"test": {"confusion_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}
    save_model(root, "v1", result.classifier, {"train": config.to_dict()}, metrics, {})
    loaded = load_classifier(root, "v1")
    texts = ["the kettle is great", "the kettel is terible"]
    np.testing.assert_allclose(loaded.predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-6)
    assert loaded.explain("the kettle is great")["top_tokens"]


def test_ngram_scores_sum_unigram_and_hashed_bigram_weights_over_real_tokens():
    from sentiment_model.model.network import NgramScores

    layer = NgramScores(vocab_size=10, buckets=7, num_classes=2)
    layer.build((None, None))
    unigrams = np.zeros((10, 2), dtype=np.float32)
    unigrams[3] = [1.0, 0.0]
    unigrams[4] = [0.0, 2.0]
    bigrams = np.zeros((7, 2), dtype=np.float32)
    bigrams[(3 * 10 + 4) % 7] = [0.0, 5.0]  # the pair (3, 4)
    layer.set_weights([unigrams, bigrams])
    scores = np.asarray(layer(np.array([[3, 4, 0, 0], [4, 3, 0, 0], [0, 0, 0, 0]], dtype="int32")))
    # 2 unigrams + 1 bigram, scaled by 1/sqrt(3); padding adds neither weights nor count
    np.testing.assert_allclose(scores[0], np.array([1.0, 7.0]) / np.sqrt(3), rtol=1e-6)
    np.testing.assert_allclose(scores[1], np.array([1.0, 2.0 + bigrams[(4 * 10 + 3) % 7][1]]) / np.sqrt(3), rtol=1e-6)
    np.testing.assert_allclose(scores[2], [0.0, 0.0])  # an all-padding row scores zero, not NaN
    with pytest.raises(ValueError, match="46340"):
        NgramScores(vocab_size=50_000, buckets=7)
    with pytest.raises(ValueError, match="vocab_size <= 46338"):  # said when configured, not after the vocabulary is built
        TrainConfig(ngram_buckets=7, vocab_size=50_000)
    assert TrainConfig(ngram_buckets=0, vocab_size=50_000).vocab_size == 50_000


def test_ngram_scores_add_hashed_trigrams_and_scale_by_the_rate():
    from sentiment_model.model.network import NgramScores

    layer = NgramScores(vocab_size=10, buckets=7, num_classes=1, orders=3, rate_scale=2.0)
    layer.build((None, None))
    trigrams = np.zeros((7, 1), dtype=np.float32)
    bigram_bucket = (3 * 10 + 4) % 7
    trigrams[(bigram_bucket * NgramScores.TRIGRAM_MULTIPLIER + 5) % 7] = 4.0  # the triple (3, 4, 5)
    layer.set_weights([np.zeros((10, 1), np.float32), np.zeros((7, 1), np.float32), trigrams])
    scores = np.asarray(layer(np.array([[3, 4, 5, 0], [3, 4, 0, 0]], dtype="int32")))
    # 3 unigrams + 2 bigrams + 1 trigram; the pair alone has no triple and counts 2 + 1
    np.testing.assert_allclose(scores[:, 0], [2.0 * 4.0 / np.sqrt(6), 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="trigram buckets"):
        NgramScores(vocab_size=10, buckets=1_000_003, orders=3)
    with pytest.raises(ValueError, match="orders"):
        NgramScores(vocab_size=10, buckets=7, orders=4)


def test_ngram_branch_trains_and_survives_save_and_load(splits, tmp_path):
    from sentiment_model.core.layout import DataRoot
    from sentiment_model.model.registry import load_model_dir, save_model

    config = TrainConfig(**TINY, ngram_buckets=1_009, ngram_orders=3, ngram_rate_scale=2.0, star_loss_weight=0.5)
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    model = result.classifier.model
    assert model.output_shape == (None, 3)
    assert all(np.abs(w).sum() > 0 for w in model.get_layer("ngram_scores").get_weights())  # uni-, bi-, trigram weights learned
    root = DataRoot(str(tmp_path))
    folder = save_model(root, "ngram", result.classifier, {"train": config.to_dict()}, {"test": {"confusion_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}, {})
    texts = ["the kettle is great", "not worth the money at all"]
    np.testing.assert_allclose(load_model_dir(root, folder).predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-5)


def test_ngram_warmup_fits_the_branch_alone_before_the_network(splits):
    """The warm-up trains only the n-gram branch (the BiLSTM's weights untouched), as a
    linear model that already separates the training classes; training with it runs."""
    import keras

    from sentiment_model.model.network import build_model
    from sentiment_model.training.data import texts_and_labels
    from sentiment_model.training.train import fit_ngram_branch, model_config_for

    config = TrainConfig(**TINY, ngram_buckets=1_009, ngram_warmup_epochs=5)
    texts, labels = texts_and_labels(splits["train"])
    vocabulary = Vocabulary.build(tokenize(texts), config.vocab_size, config.min_count)
    ids, lengths = vocabulary.encode(texts, config.max_length)
    keras.utils.set_random_seed(3)
    model = build_model(model_config_for(config, len(vocabulary), 0))
    lstm_before = [w.copy() for w in model.get_layer("bilstm").get_weights()]
    fit_ngram_branch(model, ids, lengths, np.eye(3, dtype=np.float32)[labels], np.ones(len(labels), np.float32), config, seed=3)
    for before, after in zip(lstm_before, model.get_layer("bilstm").get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    branch = model.get_layer("ngram_scores")
    branch_accuracy = (np.asarray(branch(ids)).argmax(1) == labels).mean()
    assert branch_accuracy > 0.9 > np.bincount(labels).max() / len(labels)
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    assert result.classifier.predict_proba(["the kettle is great"]).shape == (1, 3)


def test_a_star_classes_model_folds_its_five_stars_and_scores_them(splits, tmp_path):
    """classes='stars': one class per star; the 3 class probabilities are exactly the
    fold of the 5 (1-2 / 3 / 4-5), both survive save/load, and scoring writes the star."""
    import datetime as dt

    from sentiment_model.core.layout import DataRoot
    from sentiment_model.model.registry import load_model_dir, save_model
    from sentiment_model.scoring.batch import score_table
    from tests.conftest import canonical_rows

    with pytest.raises(ValueError, match="star_loss_weight must be > 0"):
        TrainConfig(classes="stars", star_loss_weight=0)
    # The fold is the network's own (a wide part would be combined after it).
    config = TrainConfig(**TINY, ngram_buckets=1_009, classes="stars", wide_terms=0)
    result = train_classifier(splits["train"], splits["validation"], config, log=lambda _: None)
    root = DataRoot(str(tmp_path))
    folder = save_model(root, "stars", result.classifier, {"train": config.to_dict()}, {"test": {"confusion_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}, {})
    loaded = load_model_dir(root, folder)
    texts = ["the kettle is great", "not worth the money at all", "it is okay"]
    ids, lengths = loaded.encode(texts)
    stars = loaded.predict_star_proba_ids(ids, lengths)
    assert stars.shape == (3, 5) and loaded.has_star_classes
    np.testing.assert_allclose(stars.sum(1), 1.0, rtol=1e-5)
    folded = np.stack([stars[:, 0] + stars[:, 1], stars[:, 2], stars[:, 3] + stars[:, 4]], axis=1)
    np.testing.assert_allclose(loaded.predict_proba(texts), folded, atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(texts), result.classifier.predict_proba(texts), atol=1e-5)
    assert set(loaded.explain("the kettle is great")["star_probabilities"]) == {"1", "2", "3", "4", "5"}
    rows = canonical_rows(splits["test"].slice(0, 20), dt.date(2015, 7, 1))
    scored = score_table(loaded, rows, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    predicted = scored.column("predicted_stars").to_numpy(zero_copy_only=False)
    expected = loaded.predict_star_proba_ids(*loaded.encode(pa.array(scored_texts(rows)))).argmax(1) + 1
    assert predicted.tolist() == expected.tolist()
    from tasks.model import evaluate_on_test

    metrics, _ = evaluate_on_test.fn(loaded, splits)
    assert metrics["labels"] == ["negative", "neutral", "positive"]  # judged on its fold, like any model
    assert 0 <= metrics["stars"]["exact_accuracy"] <= metrics["stars"]["within_one_star"] <= 1


def test_a_three_class_model_scores_no_star(splits):
    import datetime as dt

    from sentiment_model.scoring.batch import score_table
    from tests.conftest import canonical_rows

    result = train_classifier(splits["train"], splits["validation"], TrainConfig(**{**TINY, "epochs": 1}), log=lambda _: None)
    assert not result.classifier.has_star_classes
    scored = score_table(result.classifier, canonical_rows(splits["test"].slice(0, 5), dt.date(2015, 7, 1)), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert scored.column("predicted_stars").null_count == 5
    from tasks.model import evaluate_on_test

    assert "stars" not in evaluate_on_test.fn(result.classifier, splits)[0]


def scored_texts(rows: pa.Table) -> list[str]:
    from sentiment_model.model.text import review_text

    return review_text(rows.column("title"), rows.column("text")).to_pylist()


def test_weight_averaging_replaces_the_weights_with_their_average_each_epoch(splits):
    from sentiment_model.training.train import optimizer_for

    plain = optimizer_for(TrainConfig(**TINY), steps_per_epoch=40)
    assert not plain.use_ema
    averaged = optimizer_for(TrainConfig(**TINY, weight_average_momentum=0.9), steps_per_epoch=40)
    assert averaged.use_ema and averaged.ema_momentum == 0.9 and averaged.ema_overwrite_frequency == 40
    with pytest.raises(ValueError):
        TrainConfig(**TINY, weight_average_momentum=1.0)
    result = train_classifier(splits["train"], splits["validation"], TrainConfig(**TINY, weight_average_momentum=0.9), log=lambda _: None)
    assert result.validation_macro_f1 > 0.8  # the synthetic phrases stay easy to learn from the averaged weights


def test_quality_comparison_over_several_training_runs(splits, monkeypatch):
    """`benchmarks quality --runs N`: the row keeps the first run's figures and adds every
    run (seeds seed, seed+1, ...) and the mean difference's interval."""
    from benchmarks.quality import compare_on
    from sentiment_model.training import train as train_module

    trained, seeds = [], []

    def recording(train, validation, config, log):
        seeds.append(config.seed)
        trained.append(train_classifier(train, validation, config, log=log))
        return trained[-1]

    monkeypatch.setattr(train_module, "train_classifier", recording)
    config = TrainConfig(**TINY)
    row = compare_on(splits["train"], splits["validation"], splits["test"], config, resamples=50, runs=2)
    assert seeds == [3, 4]  # one network a run
    over = row["over_runs"]
    assert over["seeds"] == [3, 4] and len(over["run_macro_f1"]) == len(over["run_validation_macro_f1"]) == 2
    assert over["run_macro_f1"][0] == pytest.approx(row["bilstm_macro_f1"])
    assert row["mean_difference"] == pytest.approx(np.mean(over["run_differences"]))
    assert over["baseline_macro_f1"] == pytest.approx(row["tfidf_macro_f1"])
    alone = row["network_alone"]  # every run's network without its wide part
    assert len(alone["run_macro_f1"]) == len(alone["runs"]) == 2
    assert all(run["wide_combiner"] in ("stacked_length", "stacked", "share") for run in alone["runs"])
    # The combiner is chosen on validation, never below the network alone there.
    assert all(run["validation_macro_f1"] <= validation + 1e-9 for run, validation in zip(alone["runs"], over["run_validation_macro_f1"], strict=True))
    assert row["network_mean_difference"] == pytest.approx(np.mean(alone["run_differences"]))
    # One run: the first network again (training it anew would only repeat the same seed).
    monkeypatch.setattr(train_module, "train_classifier", lambda *args, **kwargs: trained[0])
    single = compare_on(splits["train"], splits["validation"], splits["test"], config, resamples=50)
    assert "over_runs" not in single and single["bilstm_macro_f1"] == pytest.approx(row["bilstm_macro_f1"])


def test_token_dropout_reaches_the_training_batches_and_is_a_rate(splits, monkeypatch):
    from sentiment_model.training import train as train_module

    rates = []

    class RecordingSequence(train_module.BucketedSequence):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            rates.append(self.token_dropout)

    monkeypatch.setattr(train_module, "BucketedSequence", RecordingSequence)
    with pytest.raises(ValueError):
        TrainConfig(**TINY, token_dropout=1.0)
    result = train_classifier(splits["train"], splits["validation"], TrainConfig(**{**TINY, "epochs": 1}, token_dropout=0.2), log=lambda _: None)
    assert rates == [0.2]
    assert 0.0 <= result.validation_macro_f1 <= 1.0
