"""Benchmarks: the trainer against peer implementations (``python -m nnexp.bench``), and sweeps (``python -m nnexp.bench.sweep``)."""
