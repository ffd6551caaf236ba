"""``python -m tests.benchmarks [--quick] [--scenario NAME] [--pairs N] [--json PATH]``."""

from __future__ import annotations

import sys

from ._driver import main

if __name__ == "__main__":
    sys.exit(main())
