"""Champion hot reload with the data root on gs:// (a real local GCS emulator)."""

from __future__ import annotations

from pathlib import Path

from sentiment_model.core.layout import DataRoot
from sentiment_model.model.registry import promote, read_champion
from sentiment_model.serving.holder import ModelHolder, pointer_stamp
from tests.conftest import GCS_BUCKET as BUCKET


def test_holder_follows_a_champion_on_gcs(gcs_emulator, tiny_champion_root):  # noqa: F811
    root = DataRoot(f"gs://{BUCKET}/serve-root", gcs_emulator)
    local_models = Path(tiny_champion_root.models_dir())
    for file in local_models.rglob("*"):
        if file.is_file():
            root.fs.put_file(str(file), root.join("models", str(file.relative_to(local_models))))
    first = read_champion(root)["version"]
    holder = ModelHolder(root)
    assert holder.refresh() and holder.current.version == first
    assert not holder.refresh()  # pointer unchanged: nothing loaded
    stamp = pointer_stamp(root)
    for name in root.fs.ls(root.models_dir(first)):
        root.fs.copy(name, root.join("models", "20260404T000000Z-feed0004", name.rsplit("/", 1)[-1]))
    promote(root, "20260404T000000Z-feed0004", 0.5, "test")
    assert pointer_stamp(root) != stamp
    assert holder.refresh() and holder.current.version == "20260404T000000Z-feed0004"
    assert not holder.refresh()
