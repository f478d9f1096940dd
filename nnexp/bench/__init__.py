"""Benchmarks: the trainer against peer implementations (``python -m nnexp.bench``), and whole sweeps
(``python -m nnexp.bench.sweep``)."""
