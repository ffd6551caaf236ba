"""The ``bird-recordings`` command line, split by job.

- :mod:`.common`: exit codes, credentials, filters, time spans, JSON views of models.
- :mod:`.ui`: rendering (rich on a terminal, plain lines otherwise, JSON lines).
- :mod:`.naming`: ``--name`` templates and the check that keeps files under ``--out``.
- :mod:`.transfer`: the bounded download pool, progress, summary and Ctrl-C.
- :mod:`.manifest`: the ``sync`` manifest (JSON lines, append-only, compacted atomically).
- :mod:`.commands`, :mod:`.sync`, :mod:`.transcribe`, :mod:`.demo`: the commands.
- :mod:`.parser`: argparse.

Only the public API (``import bird_recordings as br``) is used here, except the
library's locale check, which ``transcribe`` runs before any request.
"""
