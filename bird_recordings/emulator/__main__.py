"""``python -m bird_recordings.emulator``: run the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import sys

from ._process import main

if __name__ == "__main__":
    sys.exit(main())
