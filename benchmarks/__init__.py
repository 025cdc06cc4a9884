"""Benchmarks: speed and quality side by side with the alternatives users would pick.

Run ``python -m benchmarks all`` (or one name); results go to benchmarks/results/<name>.json
and docs/benchmarks.md is regenerated from them.
"""
