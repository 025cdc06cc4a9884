"""python -m benchmarks {all,quality,quality-9k,cross-source,ingest,ingest-scale,tokenize,scoring,training,orchestration,load,serving,report,monitoring} [--quick] [--runs N]"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

BENCHMARKS = ("ingest", "tokenize", "scoring", "training", "orchestration")
# Each trains the default BiLSTM on ~60K reviews (minutes to an hour on 2 cores): run on their own.
MODEL_BENCHMARKS = ("quality", "quality-9k", "cross-source")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Measure speed and quality; write benchmarks/results/*.json and docs/benchmarks.md.")
    parser.add_argument("name", choices=("all", "load", "ingest-scale", "serving", "report", "monitoring", *BENCHMARKS, *MODEL_BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="small inputs, for a smoke run (results are written to *-quick.json)")
    parser.add_argument("--reviews", type=int, default=None, help="reviews in the day (scoring, report: 200,000; load: 1,000,000) or the dump (ingest-scale: 5,000,000)")
    parser.add_argument("--runs", type=int, default=1, help="quality, cross-source: train the BiLSTM this many times (seeds 13, 14, ...) and report the mean difference")
    parser.add_argument("--families", default=None, help="cross-source: comma-separated held-out families, or 'all' (default: the four in benchmarks/quality.py)")
    parser.add_argument("--signals-out", default=None, help="monitoring: also write every replayed night's signals to this JSON file")
    args = parser.parse_args()

    from benchmarks import quality, runs
    from benchmarks.common import save
    from benchmarks.report import render

    names = BENCHMARKS if args.name == "all" else (args.name,)
    for name in names:
        started = time.perf_counter()
        if name == "quality":
            result = quality.quality(sample_sizes=(None,), quick=args.quick, runs=args.runs)
        elif name == "quality-9k":
            result = quality.quality(sample_sizes=(9_000,), quick=args.quick, runs=args.runs)
        elif name == "cross-source":
            families = quality.DEFAULT_FAMILIES if not args.families else tuple(quality.FAMILIES) if args.families == "all" else tuple(args.families.split(","))
            result = quality.cross_source(families, quick=args.quick, runs=args.runs)
            if families != quality.DEFAULT_FAMILIES:  # a partial run keeps the full one's file
                name = "cross-source-" + "-".join("".join(c for c in family.lower() if c.isalnum()) for family in families)
        elif name == "scoring":
            result = runs.scoring(reviews=args.reviews or 200_000, quick=args.quick)
            name = "scoring" if args.reviews in (None, 200_000) else f"scoring-{args.reviews}"
        elif name == "report":
            result = runs.report(reviews=args.reviews or 200_000, quick=args.quick)
            name = "report" if args.reviews in (None, 200_000) else f"report-{args.reviews}"
        elif name == "load":
            result = runs.load(reviews=args.reviews or 1_000_000, quick=args.quick)
            name = "load" if args.reviews in (None, 1_000_000) else f"load-{args.reviews}"
        elif name == "ingest-scale":
            result = runs.ingest_scale(reviews=args.reviews or 5_000_000, quick=args.quick)
            name = f"ingest-scale-{result['reviews']}"
        elif name == "monitoring":
            from benchmarks.monitoring import monitoring_benchmark

            result = monitoring_benchmark(quick=args.quick, signals_out=args.signals_out)
        elif name == "serving":
            from benchmarks.serving import serving

            result = serving(quick=args.quick)
        else:
            result = getattr(runs, name)(quick=args.quick)
        result["seconds"] = time.perf_counter() - started
        result["command"] = (
            f"uv run python -m benchmarks {args.name}"
            + (" --quick" if args.quick else "")
            + (f" --reviews {args.reviews}" if args.reviews else "")
            + (f" --runs {args.runs}" if args.runs > 1 else "")
            + (f" --families '{args.families}'" if args.families else "")
        )
        path = save(name + ("-quick" if args.quick else ""), result)
        print(f"{name}: {result['seconds']:.0f}s -> {path}")
        for row in result.get("rows", []):
            print("   ", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if not k.endswith("runs") and not isinstance(v, dict)})
    if not args.quick:
        print(f"wrote {render()}")


if __name__ == "__main__":
    main()
