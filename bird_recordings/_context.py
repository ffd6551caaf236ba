"""The collaborators the client hands to its services, built once per client (or view).

The media and transcription services receive a :class:`ServiceContext` and
never the client: they import nothing above this layer.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import frozen

from ._api import APIRequester
from ._clock import Clock
from ._fetch import TransferCounters
from ._files import FileExecutor
from ._hooks import Hooks
from ._inflight import InFlight
from ._retry import RetryPolicy
from ._transport import Transport
from ._urls import UrlResolver

__all__ = ["ServiceContext"]


@frozen(kw_only=True)
class ServiceContext:
    """What a service works with.

    Attributes:
        workspace_id: the Bird workspace every path starts with.
        requester: sends API requests (auth, limits, retries).
        transport: sends storage requests (no credentials) and guards work in flight.
        retry: the policy of storage requests.
        clock: time and sleep (tests inject a fake one).
        files: the file I/O threads.
        urls: presigned media URLs, cached and refreshed.
        counters: the client's transfer counters (``stats``).
        chunk_size: bytes per media chunk.
        allow_insecure_storage: accept plain ``http`` storage behind an ``https`` API.
        check_open: raises :class:`ClientClosedError` once the client is closed.
    """

    workspace_id: str
    requester: APIRequester
    transport: Transport
    retry: RetryPolicy
    clock: Clock
    files: FileExecutor
    urls: UrlResolver
    counters: TransferCounters
    chunk_size: int
    allow_insecure_storage: bool
    check_open: Callable[[], None]

    @property
    def inflight(self) -> InFlight:
        """The guard that ``aclose()`` uses to stop work in flight."""
        return self.transport.inflight

    @property
    def hooks(self) -> Hooks:
        """Where the client reports its calls (tracing)."""
        return self.requester.hooks
