"""`sentiment retrain`: its options are generated from TrainConfig's and RetrainConfig's
fields (name, type, default, description as help), so none is copied by hand."""

from __future__ import annotations

import datetime as dt
import inspect
from typing import Annotated, Any, Optional

import typer

from flows.cli._app import DataRootOption, app
from flows.cli.checks import checked_data_root
from flows.cli.prefect_api import ephemeral_api_dies_with_cli


def retrain(data_root: str | None = None, **options: Any) -> None:
    """Train a challenger BiLSTM, compare it with TF-IDF+LR on the same rows, register it,
    and gate promotion. Every option is a field of RetrainConfig or TrainConfig
    (sentiment_model/training/config.py); one left out keeps its default there."""
    config = retrain_config(options)  # before anything runs: one line for a bad value
    data_root = checked_data_root(data_root)
    from flows.retrain import retrain as retrain_flow

    ephemeral_api_dies_with_cli()
    out = retrain_flow(data_root=data_root, config=config)
    m = out["metrics"]
    typer.echo(f"model {out['version']} at {out['model_dir']}")
    typer.echo(f"test macro-F1 {m['test']['macro_f1']:.4f} (accuracy {m['test']['accuracy']:.4f})")
    if "stars" in m["test"]:
        s = m["test"]["stars"]
        typer.echo(f"stars: exact {s['exact_accuracy']:.4f}, within one star {s['within_one_star']:.4f}, 5-class macro-F1 {s['macro_f1']:.4f}, mean absolute error {s['mean_absolute_error']:.3f}")
    typer.echo(m["comparison_with_baseline"]["line"])
    if "teacher" in m:
        typer.echo("test macro-F1 side by side: " + ", ".join(f"{name} {value:.4f}" for name, value in m["teacher"]["test_macro_f1"].items()))
    typer.echo(out["decision"]["reason"])


#: Older names of `retrain` options that still work.
RETRAIN_OPTION_ALIASES = {"promotion_tolerance": ("--tolerance",)}


def retrain_fields() -> dict[str, Any]:
    """Every field `retrain` has an option for: RetrainConfig's run fields, then
    TrainConfig's (the field ``train`` is the latter). Field name -> pydantic FieldInfo."""
    from sentiment_model.training.config import RetrainConfig, TrainConfig

    run = {name: info for name, info in RetrainConfig.model_fields.items() if name not in ("train", "teacher")}  # teacher: its defaults, or the UI's form
    assert not run.keys() & TrainConfig.model_fields.keys(), "a RetrainConfig field shadows a TrainConfig one"
    return {**run, **TrainConfig.model_fields}


def _without_none(annotation: Any) -> Any:
    """``X`` of an ``X | None`` field's annotation; any other annotation itself."""
    import types
    import typing

    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        return next(arg for arg in args if arg is not type(None))
    return annotation


def _as_typed(value: Any) -> str:
    """A field's default as one would type it as an option."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _option_parameter(name: str, info: Any) -> inspect.Parameter:
    """A field as a typer option: its name with dashes, its type (a none-able field also
    takes ``none``, a tuple takes comma-separated values), its description and default
    as help. The option's own default is None: "not given, keep the field's default"."""
    import typing

    kind = _without_none(info.annotation)
    nullable = kind is not info.annotation
    decls: tuple[str, ...] = (f"--{name.replace('_', '-')}", *RETRAIN_OPTION_ALIASES.get(name, ()))
    option: dict[str, Any] = {"help": f"{info.description} (default: {_as_typed(info.get_default(call_default_factory=True))})", "show_default": False}
    if kind is bool:
        annotation: Any = Optional[bool]
        decls = (f"{decls[0]}/--no-{decls[0][2:]}", *decls[1:])
    elif kind is dt.date:
        annotation, option["formats"] = Optional[dt.datetime], ["%Y-%m-%d"]
    elif typing.get_origin(kind) is typing.Literal:
        annotation, option["metavar"] = Optional[str], "[" + "|".join(map(str, typing.get_args(kind))) + "]"  # pydantic checks the value
    elif typing.get_origin(kind) is tuple:
        annotation, option["metavar"], option["parser"] = Optional[str], "N,N,...", lambda value: tuple(value.split(","))
    elif nullable:
        base = kind.__name__.upper()
        annotation, option["metavar"] = Optional[str], f"{base}|none"  # retrain_config reads "none"
    else:
        annotation = Optional[kind]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[annotation, typer.Option(*decls, **option)])


# The command's options are TrainConfig's and RetrainConfig's fields, generated: a new
# field is an option with its description as help, and nothing here is copied by hand.
retrain.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter("data_root", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DataRootOption)] + [_option_parameter(name, info) for name, info in retrain_fields().items()]
)
app.command()(retrain)


def retrain_config(options: dict[str, Any]) -> Any:
    """The RetrainConfig the given options describe (None: not given); an invalid value is
    one ConfigError line naming its option."""
    import pydantic

    from sentiment_model.core.errors import ConfigError
    from sentiment_model.model.vectors import read_vectors
    from sentiment_model.training.config import RetrainConfig, TrainConfig

    fields = retrain_fields()
    given = {name: value.date() if isinstance(value, dt.datetime) else value for name, value in options.items() if value is not None}
    for name, value in given.items():  # "--frozen-embeddings none": None, for a field that takes it
        if isinstance(value, str) and value.lower() == "none" and _without_none(fields[name].annotation) is not fields[name].annotation:
            given[name] = None
    train = {name: value for name, value in given.items() if name in TrainConfig.model_fields}
    try:
        config = RetrainConfig(train=TrainConfig(**train), **{name: value for name, value in given.items() if name not in train})
    except pydantic.ValidationError as exc:
        problems = "; ".join(_option_problem(e) for e in exc.errors())
        raise ConfigError(f"invalid retrain option: {problems}") from None
    for source in (config.train.frozen_embeddings, config.train.embeddings):
        if source and source not in ("random", "word2vec"):
            read_vectors(source)  # a missing extra or file is one line now, not a failed run later
    return config


def _option_problem(error: Any) -> str:
    """One pydantic error as "--option: message" (the field, not the list index; a check
    across fields has no field)."""
    fields = [part for part in error["loc"] if isinstance(part, str) and part != "train"]
    message = error["msg"].removeprefix("Value error, ")
    return f"--{fields[0].replace('_', '-')}: {message}" if fields else message
