"""The `sentiment` CLI with the publishing-only classifier double, for the CLI races:
``python -m tests.system.race_cli score --run-date D --data-root R``.

Everything a real `sentiment score` does runs (argument checks, the champion's files
checked and resolved, a Prefect flow run and its task runs on the API, reading the
night's files, writing the parts, the manifest swap, the report); only the network is
the double, so the racing processes do not each import TensorFlow and load the model
(~8 s of CPU apiece, 160 s over the 20 processes of the four cases). The real network
runs in a `sentiment score` process in ``test_corrupt_batch_cli.py`` and on the worker of
``test_deployed_nightly_scoring.py``."""

from __future__ import annotations

from typing import Any


def publishing_only(root: Any, model_dir: str) -> Any:
    from tests.system.race_workers import PublishingOnlyClassifier

    return PublishingOnlyClassifier()


if __name__ == "__main__":
    from flows.cli import main
    from sentiment_model.model import loaded

    loaded.load_model_dir = publishing_only
    main()
