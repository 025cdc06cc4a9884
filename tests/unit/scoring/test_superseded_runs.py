"""Two runs of one day whose steps cross (the race tests' findings, made deterministic):
a newer run that has published removes the older run's folder while the older run still
writes into it. The older run must go on, find itself superseded and clean up after
itself; the newer run's day must stand."""

from __future__ import annotations

import datetime as dt
import errno
import posixpath

from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.scoring.batch import list_day_files, publish_day, read_scored_day, score_day, score_file
from tests.conftest import canonical_rows, synthetic_reviews
from tests.system.race_workers import PublishingOnlyClassifier

DAY = dt.date(2016, 4, 2)
SCORED_AT = dt.datetime(2016, 4, 3, tzinfo=dt.UTC)


def day_root(tmp_path) -> DataRoot:
    root = DataRoot(str(tmp_path / "root"))
    write_incoming_batches(root, canonical_rows(synthetic_reviews(20, seed=5), DAY), rows_per_file=10)
    return root


def test_an_older_run_whose_folder_is_removed_as_it_makes_it_writes_its_part_and_yields(tmp_path, monkeypatch):
    root = day_root(tmp_path)
    classifier = PublishingOnlyClassifier()
    older, newer = new_run_id(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)), new_run_id(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    sources = list_day_files(root, DAY)
    first = score_file(root, classifier, sources[0], DAY, older, 0, SCORED_AT)
    score_day(root, classifier, DAY, newer)  # publishes, and removes the older run's folder

    # The older run makes its folder again for its next part just as another removal of
    # it ends: the folder existed, and was gone before makedirs checked it.
    real_makedirs, calls = root.fs.makedirs, []

    def removed_while_made(path, exist_ok=False):
        calls.append(path)
        if len(calls) == 1:
            raise FileExistsError(errno.EEXIST, "File exists", path)
        return real_makedirs(path, exist_ok=exist_ok)

    monkeypatch.setattr(root.fs, "makedirs", removed_while_made)
    second = score_file(root, classifier, sources[1], DAY, older, 1, SCORED_AT)
    assert len(calls) == 2 and second.scored == 10 and root.exists(second.part)

    outcome = publish_day(root, DAY, older, [first, second], classifier.version)
    assert outcome["superseded_run"] == older and outcome["run_id"] == newer
    runs = [posixpath.basename(p.rstrip("/")) for p in root.fs.ls(root.scored_dir(DAY), detail=False) if "run=" in p]
    assert runs == [f"run={newer}"]
    assert read_scored_day(root, DAY).num_rows == 20
