"""Raw review dumps -> canonical Parquet: source specs, streaming readers, normalization, dedup."""
