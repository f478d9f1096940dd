"""Entry point of ``python -m nnexp.bench``, the training-speed benchmark; see :mod:`nnexp.bench.cli`."""

from nnexp.bench.cli import main

if __name__ == "__main__":
    main()
