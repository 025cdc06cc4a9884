"""Model files under storage faults: a save interrupted by a full disk leaves no version
that looks complete; damaged registry files (a truncated wide.npz, a champion.json whose
version is not a name) are one ConfigError line naming the file."""

from __future__ import annotations

import errno
import io
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
from fsspec.implementations.local import LocalFileSystem

from sentiment_model.core.errors import ConfigError
from sentiment_model.core.layout import DataRoot
from sentiment_model.model.registry import MODEL_FILE, check_model_files, load_model_dir, read_champion, resolve_model_dir, save_model
from sentiment_model.model.wide import WideNgrams

VERSION = "20260101T000000Z-cafe0001"


def test_a_model_save_that_runs_out_of_disk_leaves_no_complete_looking_version(tiny_champion_root, tmp_path, monkeypatch):
    classifier = load_model_dir(tiny_champion_root, tiny_champion_root.models_dir(VERSION))
    root = DataRoot(str(tmp_path / "data"))
    real_put = LocalFileSystem.put_file

    def disk_fills_during_the_network_file(self, lpath, rpath, *args, **kwargs):
        if str(rpath).endswith(MODEL_FILE):  # half of it lands, then the disk is full
            Path(rpath).parent.mkdir(parents=True, exist_ok=True)
            Path(rpath).write_bytes(Path(lpath).read_bytes()[:1000])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_put(self, lpath, rpath, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "put_file", disk_fills_during_the_network_file)
    metrics = orjson.loads(Path(tiny_champion_root.models_dir(VERSION), "metrics.json").read_bytes())
    with pytest.raises(ConfigError) as raised:  # StorageWriteError: one line at the CLI, exit 2
        save_model(root, "20260202T000000Z-0000dead", classifier, {}, metrics, {})
    assert "disk full" in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model_dir(root, "20260202T000000Z-0000dead")
    assert list(Path(root.models_dir()).iterdir()) == []  # no partial folder left behind either


def test_a_saved_version_appears_in_one_step(tiny_champion_root, tmp_path):
    classifier = load_model_dir(tiny_champion_root, tiny_champion_root.models_dir(VERSION))
    root = DataRoot(str(tmp_path / "data"))
    metrics = orjson.loads(Path(tiny_champion_root.models_dir(VERSION), "metrics.json").read_bytes())
    folder = save_model(root, "20260202T000000Z-0000beef", classifier, {}, metrics, {})
    assert [p.name for p in Path(root.models_dir()).iterdir()] == ["20260202T000000Z-0000beef"]
    assert load_model_dir(root, folder).predict_proba(["great kettle"]).shape == (1, 3)


def _registry_copy(tiny_champion_root: DataRoot, tmp_path: Path) -> DataRoot:
    root = DataRoot(str(tmp_path / "data"))
    shutil.copytree(tiny_champion_root.models_dir(), root.models_dir())
    return root


def test_a_truncated_wide_npz_is_one_line_naming_it(tiny_champion_root, tmp_path):
    root = _registry_copy(tiny_champion_root, tmp_path)
    folder = Path(root.models_dir(VERSION))
    config = orjson.loads((folder / "config.json").read_bytes())
    (folder / "config.json").write_bytes(orjson.dumps({**config, "wide_file": "wide.npz"}))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, terms=np.zeros(1000, np.uint8), idf=np.ones(10))
    (folder / "wide.npz").write_bytes(buffer.getvalue()[:200])
    for check in (lambda: check_model_files(root, str(folder)), lambda: load_model_dir(root, str(folder)), lambda: WideNgrams.read(folder / "wide.npz")):
        with pytest.raises(ConfigError) as raised:
            check()
        assert "wide.npz" in str(raised.value) and "damaged or truncated" in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("version", [42, None, ["v"], "", "../elsewhere"])
def test_a_champion_whose_version_is_not_a_name_is_one_line(tmp_path, version):
    root = DataRoot(str(tmp_path / "data"))
    Path(root.models_dir()).mkdir(parents=True)
    Path(root.champion_pointer()).write_bytes(orjson.dumps({"version": version}))
    for read in (lambda: read_champion(root), lambda: resolve_model_dir(root, "champion")):
        with pytest.raises(ConfigError, match="is not a model version name: the file is damaged"):
            read()
