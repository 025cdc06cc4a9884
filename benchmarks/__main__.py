"""python -m benchmarks {all,quality,quality-full,ingest,ingest-scale,tokenize,scoring,training,orchestration,load} [--quick]"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

BENCHMARKS = ("quality", "ingest", "tokenize", "scoring", "training", "orchestration")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Measure speed and quality; write benchmarks/results/*.json and docs/benchmarks.md.")
    parser.add_argument("name", choices=("all", "quality-full", "load", "ingest-scale", *BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="small inputs, for a smoke run (results are written to *-quick.json)")
    parser.add_argument("--reviews", type=int, default=None, help="reviews in the day (scoring: 200,000; load: 1,000,000) or the dump (ingest-scale: 5,000,000)")
    args = parser.parse_args()

    from benchmarks import runs
    from benchmarks.common import save
    from benchmarks.report import render

    names = BENCHMARKS if args.name == "all" else (args.name,)
    for name in names:
        started = time.perf_counter()
        if name == "quality":
            result = runs.quality(sample_sizes=(9_000, None), quick=args.quick)
        elif name == "quality-full":
            result = runs.quality(sample_sizes=(None,), full_bilstm=True, quick=args.quick)
        elif name == "scoring":
            result = runs.scoring(reviews=args.reviews or 200_000, quick=args.quick)
            name = "scoring" if args.reviews in (None, 200_000) else f"scoring-{args.reviews}"
        elif name == "load":
            result = runs.load(reviews=args.reviews or 1_000_000, quick=args.quick)
            name = "load" if args.reviews in (None, 1_000_000) else f"load-{args.reviews}"
        elif name == "ingest-scale":
            result = runs.ingest_scale(reviews=args.reviews or 5_000_000, quick=args.quick)
            name = f"ingest-scale-{result['reviews']}"
        else:
            result = getattr(runs, name)(quick=args.quick)
        result["seconds"] = time.perf_counter() - started
        result["command"] = f"uv run python -m benchmarks {args.name}" + (" --quick" if args.quick else "") + (f" --reviews {args.reviews}" if args.reviews else "")
        path = save(name + ("-quick" if args.quick else ""), result)
        print(f"{name}: {result['seconds']:.0f}s -> {path}")
        for row in result.get("rows", []):
            print("   ", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if not k.endswith("runs")})
    if not args.quick:
        print(f"wrote {render()}")


if __name__ == "__main__":
    main()
