"""An installed wheel carries what the code reads beside itself: the report queries and
the default sources manifest (pyproject's force-include puts them where
``bundled_path`` looks outside a checkout)."""

import tomllib

from sentiment_model.core import settings
from sentiment_model.reporting import queries


def test_wheel_maps_every_bundled_resource_to_where_the_code_looks():
    pyproject = tomllib.loads((settings.PROJECT_ROOT / "pyproject.toml").read_text())
    force_include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    package_root = settings.PACKAGED_RESOURCES.parent.parent
    for source, target in force_include.items():
        assert (settings.PROJECT_ROOT / source).exists(), source
        assert package_root / target == settings.PACKAGED_RESOURCES / source
    assert set(force_include) == {"sql", "sources.toml"}


def test_outside_a_checkout_the_packaged_copy_is_read(tmp_path, monkeypatch):
    packaged = tmp_path / "site" / "resources"
    (packaged / "sql").mkdir(parents=True)
    (packaged / "sql" / "class_distribution.sql").write_text("SELECT 1 AS packaged")
    (packaged / "sources.toml").write_text("# packaged\n")
    monkeypatch.setattr(settings, "PROJECT_ROOT", tmp_path / "no-checkout")
    monkeypatch.setattr(settings, "PACKAGED_RESOURCES", packaged)
    monkeypatch.delenv("SENTIMENT_SOURCES_MANIFEST", raising=False)
    assert queries.load_sql("class_distribution") == "SELECT 1 AS packaged"
    assert settings.Settings().sources_manifest == str(packaged / "sources.toml")
