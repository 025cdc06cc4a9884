"""Worker processes for the race tests (spawned: a real process each, real storage).

Every round, each worker waits on a shared barrier, so the writers of one round start
together, does its write, reports one result, and waits on the barrier again; the
coordinating test joins both waits and checks the storage between rounds. A worker that
fails reports its traceback and breaks the barrier, so the test fails at once."""

from __future__ import annotations

import datetime as dt
import traceback
from typing import Any

BARRIER_TIMEOUT_S = 300
#: The first wait also covers starting Python and the storage libraries in every worker at once.
START_TIMEOUT_S = 1200


def _wait(barrier: Any, round_: int) -> None:
    barrier.wait(START_TIMEOUT_S if round_ == 0 else BARRIER_TIMEOUT_S)


def _guarded(body: Any, barrier: Any, results: Any) -> None:
    try:
        body()
    except BaseException:  # noqa: BLE001 - report everything to the coordinating test
        results.put(("error", traceback.format_exc()))
        barrier.abort()


def append_to_pointer(root_url: str, storage_options: dict[str, Any], pointer: str, name: str, rounds: int, barrier: Any, results: Any) -> None:
    """Each round: one compare-and-swap that appends ``name:round`` to the pointer's list."""

    def body() -> None:
        from sentiment_model.core.layout import DataRoot
        from sentiment_model.core.pointers import swap_json

        root = DataRoot(root_url, storage_options)
        path = root.join(pointer)
        for round_ in range(rounds):
            _wait(barrier, round_)
            entry = f"{name}:{round_}"
            swap_json(root, path, lambda current, entry=entry: {"writes": [*(current or {}).get("writes", []), entry]})
            results.put(("ok", round_, entry))
            barrier.wait(BARRIER_TIMEOUT_S)

    _guarded(body, barrier, results)


def promote_each_round(root_url: str, storage_options: dict[str, Any], read_barrier: Any, name: str, rounds: int, barrier: Any, results: Any) -> None:
    """Each round: read the champion, wait until every worker has read it, then promote a
    new version expecting that champion. Exactly one promotion per round may win."""

    def body() -> None:
        from sentiment_model.core.layout import DataRoot
        from sentiment_model.model.registry import ChampionChanged, promote, read_champion

        root = DataRoot(root_url, storage_options)
        for round_ in range(rounds):
            _wait(barrier, round_)
            seen = read_champion(root)
            read_barrier.wait(BARRIER_TIMEOUT_S)
            version = f"r{round_:02d}-{name}"
            try:
                promote(root, version, 0.5, "race test", expected_champion=seen["version"] if seen else None)
                results.put(("won", round_, version))
            except ChampionChanged:
                results.put(("lost", round_, version))
            barrier.wait(BARRIER_TIMEOUT_S)

    _guarded(body, barrier, results)


class PublishingOnlyClassifier:
    """Labels every review positive, without a network: these races are about publishing a
    day (parts, manifest swap, cleanup), so a worker need not start TensorFlow (~10 s of
    CPU each, most of a round's cost). ``tests/unit/serving/test_one_path_to_a_label.py``
    covers the real classifier's path."""

    version = "race-publishing-only"

    def label(self, texts: Any, top_tokens: int = 0) -> Any:
        return _AllPositive(len(texts))


class _AllPositive:
    """What ``SentimentClassifier.label`` returns, for ``n`` positive reviews."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.labels, self.top_tokens, self.stars = ("positive",) * n, [[] for _ in range(n)], None
        self.probabilities = np.tile(np.array([[0.1, 0.1, 0.8]], dtype=np.float32), (n, 1))

    def __len__(self) -> int:
        return len(self.labels)


def score_each_round(root_url: str, storage_options: dict[str, Any], day: str, name: str, rounds: int, barrier: Any, results: Any) -> None:
    """Each round: score the whole day and publish it (a new run id per round)."""

    def body() -> None:
        from sentiment_model.core.layout import DataRoot, new_run_id
        from sentiment_model.scoring.batch import score_day

        root = DataRoot(root_url, storage_options)
        classifier = PublishingOnlyClassifier()
        for round_ in range(rounds):
            _wait(barrier, round_)
            run_id = new_run_id()
            manifest = score_day(root, classifier, dt.date.fromisoformat(day), run_id)
            results.put(("scored", round_, run_id, manifest["run_id"]))
            barrier.wait(BARRIER_TIMEOUT_S)

    _guarded(body, barrier, results)
