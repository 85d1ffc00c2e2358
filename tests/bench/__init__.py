"""The performance benchmark: ``./run bench`` (``python -m tests.bench.run``).

See docs/benchmark.md for what it measures and the latest results.
"""
