"""The benchmark suite: ``python -m tests.benchmarks`` (``nox -s bench``).

Never collected by pytest (``--ignore=tests/benchmarks`` in ``pyproject.toml``).
"""
