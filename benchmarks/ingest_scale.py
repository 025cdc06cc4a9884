"""Ingest at scale (`python -m benchmarks ingest-scale --reviews N`): a synthetic McAuley
dump through the ingest flow on 2 threads in a fresh process, then again with no file
changed: rate, CPU, peak memory of the process tree, and the reconciliation against the
counts the dump was built with."""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks import child
from benchmarks.common import shared_root, temporary_folder

INGEST_THREADS = 2
REPORTED_FILE_FIELDS = ("source", "records_read", "canonical", "duplicates", "quarantined", "quarantine_reasons", "reused")


_PERTURBATIONS = ["Really.", "Honestly.", "Overall fine.", "As expected.", "Would say so again.", "Nothing more to add."]


def synthetic_mcauley_dump(folder: Path, reviews: int, file_reviews: int = 500_000) -> dict[str, int]:
    """A McAuley 2014-style JSON-lines gzip dump of ``reviews`` records built from the
    shared corpus: each distinct review copied with a new reviewerID (and a sentence added
    to the text from the second copy on), plus exact duplicates (1%) and conflicting
    duplicates (0.1%: same reviewer, text and time, another rating), every one placed in
    a later file than its original. Returns the counts ingest must report."""
    import duckdb

    from sentiment_model.ingest.canonical import read_canonical

    base = read_canonical(shared_root(), columns=["product_id", "rating", "title", "text", "review_time"])
    duplicates, conflicts = reviews // 100, reviews // 1000
    unique = reviews - duplicates - conflicts
    half = unique // 2
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(config={"memory_limit": "2GB", "threads": "2"}) as con:
        con.register("base_arrow", base)
        con.execute("CREATE TABLE base AS SELECT row_number() OVER () - 1 AS base_row, * FROM base_arrow")
        base_n = base.num_rows
        # (position in the dump, generated review number, kind): originals first half/second
        # half; copies sit after the originals' half so they always land in a later file.
        con.execute(f"""
            CREATE TABLE plan AS
            SELECT i::DOUBLE AS pos, i AS review, 0 AS kind FROM range({unique}) t(i)
            UNION ALL SELECT (2 * j * {max(1, (half // 2) // max(1, duplicates))})::DOUBLE + {half} + 0.5, 2 * j * {max(1, (half // 2) // max(1, duplicates))}, 1 FROM range({duplicates}) t(j)
            UNION ALL SELECT (2 * j * {max(1, (half // 2) // max(1, conflicts))} + 1)::DOUBLE + {half} + 0.25, 2 * j * {max(1, (half // 2) // max(1, conflicts))} + 1, 2 FROM range({conflicts}) t(j)
        """)
        con.execute(f"CREATE TABLE ranked AS SELECT review, kind, (row_number() OVER (ORDER BY pos) - 1) // {file_reviews} AS file_no, pos FROM plan")
        files = con.execute("SELECT max(file_no) + 1 FROM ranked").fetchone()[0]
        words = "[" + ", ".join(f"'{w}'" for w in _PERTURBATIONS) + "]"
        for file_no in range(files):
            path = folder / f"reviews_{file_no:04d}.json.gz"
            con.execute(f"""
                COPY (
                    SELECT 'S' || (review // {base_n}) || '-' || b.base_row AS reviewerID,
                           b.product_id AS asin,
                           'Reviewer ' || b.base_row AS reviewerName,
                           CASE WHEN review // {base_n} = 0 THEN b.text ELSE b.text || ' ' || {words}[1 + (review // {base_n}) % {len(_PERTURBATIONS)}] END AS reviewText,
                           (CASE WHEN kind = 2 THEN b.rating % 5 + 1 ELSE b.rating END)::DOUBLE AS overall,
                           b.title AS summary,
                           epoch(b.review_time)::BIGINT AS unixReviewTime
                    FROM ranked JOIN base b ON b.base_row = review % {base_n}
                    WHERE file_no = {file_no} ORDER BY pos
                ) TO '{path}' (FORMAT JSON, COMPRESSION GZIP)
            """)
    return {"records_read": reviews, "canonical": unique, "duplicates": duplicates, "quarantined": conflicts, "files": files}


def measured_ingest(root_url: str, sources_manifest: str) -> dict[str, Any]:
    """In the child: the ingest flow, timed, with this process's CPU seconds."""
    with child.temporary_prefect_api():
        from flows.ingest import ingest

        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        report = ingest(data_root=root_url, sources_manifest=sources_manifest, max_workers=INGEST_THREADS)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "totals": report["totals"],
        "unchanged": "unchanged_since" in report,
        "seconds": seconds,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "files": [{k: r[k] for k in REPORTED_FILE_FIELDS} for r in report["files"]],
    }


def ingest_scale(reviews: int = 5_000_000, quick: bool = False) -> dict[str, Any]:
    """A synthetic McAuley dump of ``reviews`` records through the ingest flow on 2
    threads, then again with no file changed: rate, peak memory of the process tree,
    and the reconciliation against the known counts."""
    reviews = 100_000 if quick else reviews
    work = temporary_folder("bench-ingest-scale-")
    started = time.perf_counter()
    expected = synthetic_mcauley_dump(work / "raw", reviews)
    generate_seconds = time.perf_counter() - started
    gzip_mb = sum(p.stat().st_size for p in (work / "raw").glob("*.json.gz")) / 1e6
    manifest = work / "sources.toml"
    manifest.write_text('base_uri = "raw"\n[[sources]]\nname = "synthetic"\nuri = "*.json.gz"\npreset = "mcauley_json"\n', encoding="utf-8")
    rows, checks = [], {}
    for label in ("first run", "rerun, no file changed"):
        run = child.run(measured_ingest, str(work / "root"), str(manifest), sample_tree=True)
        totals = run["totals"]
        reasons = {k: v for f in run["files"] for k, v in f["quarantine_reasons"].items()}
        checks[label] = all(totals[k] == expected[k] for k in ("records_read", "canonical", "duplicates", "quarantined")) and set(reasons) <= {"conflicting duplicate"}
        rows.append(
            {
                "run": label,
                "reviews": totals["records_read"],
                "seconds": run["seconds"],
                "reviews_per_s": totals["records_read"] / run["seconds"],
                "gzip_mb_per_s": gzip_mb / run["seconds"],
                "cpu_seconds": run["cpu_seconds"],
                "reviews_per_cpu_s": totals["records_read"] / max(run["cpu_seconds"], 1e-9),
                "peak_rss_mb": run["peak_rss_mb"],
                "peak_tree_rss_mb": run["peak_tree_rss_mb"],
                "reused_files": totals["reused_files"],
                "counts_match": checks[label],
            }
        )
    shutil.rmtree(work, ignore_errors=True)
    if not all(checks.values()):
        raise RuntimeError(f"ingest-scale: reconciliation does not match the known counts {expected}: {rows}")
    return {
        "reviews": reviews,
        "gzip_mb": gzip_mb,
        "files": expected["files"],
        "expected": expected,
        "rows": rows,
        "generate_seconds": generate_seconds,
        "rerun_share_of_first": rows[1]["seconds"] / rows[0]["seconds"],
        "note": "peak_rss_mb: the flow's process (VmHWM); peak_tree_rss_mb: its whole process tree (the Prefect API server included), sampled every 0.2 s",
    }
