"""``python -m tests.benchmarks [--quick] [--targets] [--row ROW] [--scenario NAME] [--pairs N]``.

See ``--help``; ``python -m tests.benchmarks.profile`` profiles one side in-process.
"""

from __future__ import annotations

import sys

from ._driver import main

if __name__ == "__main__":
    sys.exit(main())
