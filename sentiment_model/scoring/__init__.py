"""Batch scoring of a nightly day: score each batch file, publish the day with a compare-and-swap, read it back."""
