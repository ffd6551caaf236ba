"""``python -m bird_recordings``: the ``bird-recordings`` command."""

from bird_recordings.cli import main

raise SystemExit(main())
