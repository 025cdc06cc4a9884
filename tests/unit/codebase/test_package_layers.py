"""The library is grouped by stage, and each stage imports only the ones below it: a module
lands where its stage is, and nothing reaches upward or round in a cycle."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "sentiment_model"
# What each stage may import from the library (besides itself).
ALLOWED = {
    "core": set(),
    "ingest": {"core"},
    "model": {"core"},
    # The fine-tuned MiniLM: a leaf beside model (its optional extra stays out of the rest),
    # that training may call for soft labels.
    "teacher": {"core", "model"},
    "training": {"core", "ingest", "model", "teacher"},
    "scoring": {"core", "model"},
    "serving": {"core", "model"},
    "reporting": {"core", "model", "scoring"},
}
FORBIDDEN_ANYWHERE = ("prefect",)  # the library runs without the orchestrator


def imported_modules(source: str) -> set[str]:
    """Every module an ``import``/``from ... import`` names, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "sentiment_model" and len(parts) > 1 else None


def layer_violations() -> list[str]:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) == 1:
            if relative.name != "__init__.py":
                offenders.append(f"{relative}: a module outside every stage package")
            continue
        stage = relative.parts[0]
        for module in sorted(imported_modules(path.read_text(encoding="utf-8"))):
            target = stage_of(module)
            if module.split(".")[0] in FORBIDDEN_ANYWHERE:
                offenders.append(f"{relative}: imports {module}")
            elif target is not None and target != stage and target not in ALLOWED.get(stage, set()):
                offenders.append(f"{relative}: {stage} imports {module}")
    return offenders


def test_every_stage_imports_only_the_stages_below_it():
    assert set(ALLOWED) == {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert not layer_violations(), "\n".join(layer_violations())


def test_the_checker_sees_imports_inside_functions():
    source = "import os\ndef f():\n    from sentiment_model.scoring.batch import score_file\n    import prefect\n"
    assert imported_modules(source) == {"os", "sentiment_model.scoring.batch", "prefect"}
    assert stage_of("sentiment_model.scoring.batch") == "scoring"
    assert stage_of("sentiment_model") is None
