"""python -m benchmarks NAME[,NAME...] [--quick] [--reviews N] [--runs N] [--families F] [--teacher-minutes M [--teacher-epochs E]] [--signals-out FILE]

Runs one benchmark (or `all`, or several named with commas, in one process: the model
benchmarks then share the ingested corpus and, in student mode, the teacher and its
labels), writes benchmarks/results/<name>.json and, unless --quick, regenerates
docs/benchmarks.md. `python -m benchmarks --help` lists the names."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentiment_model.teacher.config import TeacherConfig

BENCHMARKS = ("ingest", "tokenize", "scoring", "training", "orchestration")
# Each trains the default BiLSTM on ~60K reviews (minutes to an hour on 2 cores): run on their own.
MODEL_BENCHMARKS = ("quality", "quality-9k", "cross-source", "behaviour")
#: Every name, with what it measures (the --help listing).
NAMES = {
    "all": f"{', '.join(BENCHMARKS)} (~20 min on 2 cores)",
    "ingest": "raw gzip JSON lines and CSV -> canonical Parquet, against pandas",
    "tokenize": "reviews/s to padded ids, against Keras TextVectorization and the seed's Tokenizer",
    "scoring": "a day of --reviews (200,000) scored on CPU in a fresh process, against the seed style",
    "training": "samples/s of one epoch, fused-capable LSTM against the seed's recurrent dropout",
    "orchestration": "a small day through the nightly-scoring flow against the library calls alone",
    "quality": "the default BiLSTM against TF-IDF+LR on all the training data (--runs N)",
    "quality-9k": "the same on 9,000 training reviews",
    "cross-source": "the same with one source family held out at a time (--families, --runs N)",
    "behaviour": "templated cases per capability (negation, contrast, ...): network alone, default model, TF-IDF+LR (--reviews N to train on N)",
    "load": "the nightly-scoring flow over a day of --reviews (1,000,000): rate and peak memory",
    "ingest-scale": "a synthetic dump of --reviews (5,000,000) through the ingest flow, then unchanged",
    "report": "the report flow over a day of --reviews (200,000) with a 30-day trailing window",
    "serving": "the HTTP service under 1, 8 and 64 clients, and the exported formats",
    "serving-hostile": "the service against hostile clients on 127.0.0.1 (as python -m benchmarks.serving_hostile)",
    "monitoring": "false incidents on stable nights, and the first night each injected incident is seen",
}
ELSEWHERE = """not run from here (their own options):
  python -m benchmarks.faithfulness MODEL_FOLDER   is attention a faithful explanation
  python -m benchmarks.network_training --help     one training epoch on a GPU machine
  python -m benchmarks.teacher --help              the fine-tuned MiniLM teacher against TF-IDF+LR"""


def benchmark_names(value: str) -> str:
    """``NAME`` or ``NAME,NAME,...`` (argparse's check; the text is kept for the results' command)."""
    for name in value.split(","):
        if name not in NAMES:
            raise argparse.ArgumentTypeError(f"invalid choice: {name!r} (see the names below)")
    return value


def names_to_run(value: str) -> tuple[str, ...]:
    """The benchmarks that ``value`` names, in its order (`all`: the fast ones)."""
    return tuple(dict.fromkeys(name for part in value.split(",") for name in (BENCHMARKS if part == "all" else (part,))))


def _sized(name: str, reviews: int | None, default: int) -> str:
    """The results file of a run at another size than the documented one gets its own name."""
    return name if reviews in (None, default) else f"{name}-{reviews}"


def _student(args: argparse.Namespace) -> str:
    """A student's results (``--teacher-minutes``) keep the default model's file."""
    return "-student" if args.teacher_minutes is not None else ""


def _teacher(args: argparse.Namespace) -> TeacherConfig | None:
    """Student mode's teacher: at most ``--teacher-epochs``, its decay fitted to ``--teacher-minutes``."""
    if args.teacher_minutes is None:
        return None
    from sentiment_model.teacher.config import TeacherConfig

    return TeacherConfig(epochs=args.teacher_epochs, budget_minutes=args.teacher_minutes)


def run_benchmark(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """One benchmark's result and the name of its results file."""
    if name in ("quality", "quality-9k", "cross-source"):
        from benchmarks import quality

        student = _student(args)
        if name != "cross-source":
            return quality.quality(sample_sizes=(None,) if name == "quality" else (9_000,), quick=args.quick, runs=args.runs, teacher=_teacher(args)), name + student
        families = quality.DEFAULT_FAMILIES if not args.families else tuple(quality.FAMILIES) if args.families == "all" else tuple(args.families.split(","))
        result = quality.cross_source(families, quick=args.quick, runs=args.runs, teacher=_teacher(args))
        if families != quality.DEFAULT_FAMILIES:  # a partial run keeps the full one's file
            name = "cross-source-" + "-".join("".join(c for c in family.lower() if c.isalnum()) for family in families)
        return result, name + student
    if name == "behaviour":
        from benchmarks.behaviour.evaluate import behaviour

        return behaviour(reviews=args.reviews, quick=args.quick, teacher=_teacher(args)), _sized(name, args.reviews, None) + _student(args)
    if name in ("ingest", "tokenize", "training"):
        from benchmarks import in_process

        return getattr(in_process, name)(quick=args.quick), name
    if name == "scoring":
        from benchmarks.scoring import scoring

        return scoring(reviews=args.reviews or 200_000, quick=args.quick), _sized(name, args.reviews, 200_000)
    if name in ("load", "report", "orchestration"):
        from benchmarks import nightly

        if name == "orchestration":
            return nightly.orchestration(quick=args.quick), name
        default = 1_000_000 if name == "load" else 200_000
        return getattr(nightly, name)(reviews=args.reviews or default, quick=args.quick), _sized(name, args.reviews, default)
    if name == "ingest-scale":
        from benchmarks.ingest_scale import ingest_scale

        result = ingest_scale(reviews=args.reviews or 5_000_000, quick=args.quick)
        return result, f"ingest-scale-{result['reviews']}"
    if name == "monitoring":
        from benchmarks.monitoring import monitoring_benchmark

        return monitoring_benchmark(quick=args.quick, signals_out=args.signals_out), name
    if name == "serving":
        from benchmarks.serving import serving

        return serving(quick=args.quick), name
    if name == "serving-hostile":
        from benchmarks.serving_hostile import hostile

        return hostile(quick=args.quick), name
    raise ValueError(f"no benchmark named {name!r}")


def parser() -> argparse.ArgumentParser:
    names = "\n".join(f"  {name:<16} {what}" for name, what in NAMES.items())
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure speed and quality; write benchmarks/results/*.json and docs/benchmarks.md.",
        epilog=f"benchmarks:\n{names}\n\n{ELSEWHERE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "name",
        type=benchmark_names,
        metavar="NAME",
        help="one of the benchmarks below, or several joined by commas: one process, so a student mode's teacher (~1 h on 2 cores) is trained once for them all",
    )
    parser.add_argument("--quick", action="store_true", help="small inputs, for a smoke run (results are written to *-quick.json)")
    parser.add_argument("--reviews", type=int, default=None, help="reviews in the day (scoring, report: 200,000; load: 1,000,000), the dump (ingest-scale: 5,000,000) or training (behaviour: all)")
    parser.add_argument("--runs", type=int, default=1, help="quality, cross-source: train the BiLSTM this many times (seeds 13, 14, ...) and report the mean difference")
    parser.add_argument("--families", default=None, help="cross-source: comma-separated held-out families, or 'all' (default: the four in benchmarks/quality.py)")
    parser.add_argument(
        "--teacher-minutes",
        type=float,
        default=None,
        help="quality, cross-source, behaviour: train the BiLSTM as the student of a MiniLM teacher fine-tuned on the same rows for at most this long (issue 32; the teacher extra)",
    )
    parser.add_argument("--teacher-epochs", type=int, default=1, help="student mode: the teacher's most epochs (each ~39 min on 2 cores; the budget above still ends it)")
    parser.add_argument("--signals-out", default=None, help="monitoring: also write every replayed night's signals to this JSON file")
    return parser


def main() -> None:
    cli = parser()
    args = cli.parse_args()
    if args.teacher_epochs < 1:
        cli.error("--teacher-epochs must be 1 or more")

    from benchmarks.child import set_benchmark_env, stop_children_on_sigterm
    from benchmarks.common import save
    from benchmarks.report import render

    set_benchmark_env()
    stop_children_on_sigterm()
    for name in names_to_run(args.name):
        started = time.perf_counter()
        result, file_name = run_benchmark(name, args)
        result["seconds"] = time.perf_counter() - started
        result["command"] = (
            f"uv run python -m benchmarks {args.name}"
            + (" --quick" if args.quick else "")
            + (f" --reviews {args.reviews}" if args.reviews else "")
            + (f" --runs {args.runs}" if args.runs > 1 else "")
            + (f" --families '{args.families}'" if args.families else "")
            + (f" --teacher-minutes {args.teacher_minutes:g}" if args.teacher_minutes is not None else "")
            + (f" --teacher-epochs {args.teacher_epochs}" if args.teacher_minutes is not None and args.teacher_epochs != 1 else "")
        )
        path = save(file_name + ("-quick" if args.quick else ""), result)
        print(f"{file_name}: {result['seconds']:.0f}s -> {path}")
        for row in result.get("rows", []):
            print("   ", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if not k.endswith("runs") and not isinstance(v, dict)})
    if not args.quick:
        print(f"wrote {render()}")


if __name__ == "__main__":
    main()
