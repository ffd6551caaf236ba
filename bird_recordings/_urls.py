"""Presigned media URLs: where they come from (Bird's ``.mp3`` redirect) and when to ask again.

:class:`UrlResolver` keeps the latest URL of each recording, hands out one that
outlives a safety margin, and asks for a new one (:class:`MediaLocator`, one
request however many transfers need it at once) when it is about to expire.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final

from . import _protocol as proto
from ._api import APIRequester
from ._constants import DEFAULT_URL_SAFETY_MARGIN_S
from ._errors import (
    BirdRecordingsError,
    InvalidMediaURLError,
    NotFoundError,
    RecordingNotAvailableError,
)
from ._models import MediaURL, Recording, RecordingStatus
from ._singleflight import SingleFlight

__all__ = [
    "REDIRECT_STATUSES",
    "LocationCheck",
    "MediaLocator",
    "UrlResolver",
    "explain_missing_media",
]

#: The statuses of a redirect to storage (Bird documents 307).
REDIRECT_STATUSES: Final = (301, 302, 303, 307, 308)
_CACHE_SIZE: Final = 512
_TRUSTED_ORIGINS: Final = 64


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, exactly as written; else ``None``."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("https", "http"):
        return None
    host = rest.split("/", 1)[0]
    if not host or "?" in host or "#" in host or "@" in host or "\\" in host:
        return None
    return f"{scheme}://{host}"


FetchURL = Callable[[str], Awaitable[MediaURL]]


class LocationCheck:
    """:func:`~._protocol.validate_media_location` that remembers origins that passed.

    The host, port and scheme checks depend only on the origin
    (``scheme://host[:port]``): a URL on an origin that passed once needs only
    its characters checked. Anything else gets the full check (and its error).
    """

    def __init__(self, *, api_url: str, allow_insecure: bool) -> None:
        self.api_url = api_url
        self.allow_insecure = allow_insecure
        self._trusted: set[str] = set()

    def __call__(self, location: str | None, *, recording_id: str | None = None) -> str:
        """``location`` if Bird's redirect may be followed there, else InvalidMediaURLError."""
        origin = _origin(location) if location else None
        if (
            location
            and origin is not None
            and origin in self._trusted
            and proto.has_url_characters_only(location)
        ):
            return location
        checked = proto.validate_media_location(
            location,
            api_url=self.api_url,
            recording_id=recording_id,
            allow_insecure=self.allow_insecure,
        )
        if origin is not None and len(self._trusted) < _TRUSTED_ORIGINS:
            self._trusted.add(origin)
        return checked

    def accepts(self, url: str) -> bool:
        """True if :meth:`__call__` accepts ``url``."""
        try:
            self(url)
        except InvalidMediaURLError:
            return False
        return True


async def explain_missing_media(
    requester: APIRequester, workspace_id: str, recording_id: str, error: BirdRecordingsError
) -> BirdRecordingsError:
    """The error for a 404 on media: a recording without media, or no recording at all.

    Asks for the recording's metadata: :class:`NotFoundError` when it is gone,
    :class:`RecordingNotAvailableError` when it has no media (yet), else ``error``.
    """
    path = proto.recording_path(workspace_id, recording_id)
    try:
        recording = await requester.get_model(
            path, Recording, what=f"recording {recording_id}", recording_id=recording_id
        )
    except NotFoundError as exc:
        return exc  # the recording itself is gone (deleted meanwhile)
    except BirdRecordingsError:
        return error
    if recording.status != RecordingStatus.AVAILABLE:
        return RecordingNotAvailableError(recording_id, str(recording.status))
    return error


class MediaLocator:
    """Asks Bird's ``GET …/recordings/{id}.mp3`` for a presigned URL (its checked 307)."""

    def __init__(
        self,
        requester: APIRequester,
        workspace_id: str,
        *,
        allow_insecure: bool,
        check: LocationCheck | None = None,
    ) -> None:
        self.requester = requester
        self.workspace_id = workspace_id
        self.check = check or LocationCheck(
            api_url=requester.base_url, allow_insecure=allow_insecure
        )

    async def __call__(self, recording_id: str) -> MediaURL:
        """A new URL for the recording's media.

        Raises:
            InvalidMediaURLError: no, or an unacceptable, ``Location``.
            NotFoundError, RecordingNotAvailableError: see :func:`explain_missing_media`.
        """
        api = self.requester
        path = proto.recording_path(self.workspace_id, recording_id, ".mp3")
        try:
            response = await api.send(
                "GET",
                path,
                ok=(200, *REDIRECT_STATUSES),
                recording_id=recording_id,
                allow_redirects=False,
            )
        except NotFoundError as exc:
            raise await explain_missing_media(api, self.workspace_id, recording_id, exc) from exc
        if response.status == 200:
            # Bird documents a 307 to storage; a body here would mean the API
            # changed (or a proxy answered), and it is not what we verify.
            raise InvalidMediaURLError(
                f"recording {recording_id}: Bird answered the .mp3 request with 200 "
                f"({response.headers.get('Content-Type', 'no Content-Type')}) instead of a "
                "307 redirect to storage"
            )
        location = self.check(response.headers.get("Location"), recording_id=recording_id)
        return proto.media_url_from_string(location, recording_id)


class UrlResolver:
    """Fresh presigned URLs per recording: a small cache, one request per refresh.

    Args:
        fetch: asks for a new URL of a recording (a :class:`MediaLocator`).
        server_now: the storage's current time as best we know it (URLs expire
            on the server's clock).
        api_url: the API origin; a URL from metadata passes the checks a
            redirect gets against it.
        allow_insecure: accept plain ``http`` storage behind an ``https`` API.
        safety_margin_s: a URL is refreshed this long before it expires (or at
            half its lifetime, for short-lived URLs).
    """

    def __init__(
        self,
        fetch: FetchURL,
        *,
        server_now: Callable[[], datetime],
        api_url: str,
        allow_insecure: bool = False,
        safety_margin_s: float = DEFAULT_URL_SAFETY_MARGIN_S,
    ) -> None:
        self.fetch = fetch
        self.server_now = server_now
        self.api_url = api_url
        self.allow_insecure = allow_insecure
        self.safety_margin_s = safety_margin_s
        self.flights: SingleFlight[str, MediaURL] = SingleFlight()
        self._latest: OrderedDict[str, MediaURL] = OrderedDict()
        self.check = LocationCheck(api_url=api_url, allow_insecure=allow_insecure)

    def sharing(self, fetch: FetchURL, *, server_now: Callable[[], datetime]) -> UrlResolver:
        """A resolver with its own ``fetch`` and this one's cache and requests in flight."""
        other = UrlResolver(
            fetch,
            server_now=server_now,
            api_url=self.api_url,
            allow_insecure=self.allow_insecure,
            safety_margin_s=self.safety_margin_s,
        )
        other.flights = self.flights
        other._latest = self._latest
        other.check = self.check
        return other

    def is_fresh(self, media_url: MediaURL) -> bool:
        """True if the URL will outlive the safety margin (or does not say when it expires).

        The margin is 30 s, or half the URL's lifetime for short-lived URLs, so a
        URL that is valid for only a few seconds is still used while it is new.
        """
        left = media_url.seconds_left(self.server_now())
        if left is None or left >= self.safety_margin_s:
            # The lifetime can only shrink the margin: no need to parse the query.
            return True
        lifetime = proto.presigned_lifetime_s(media_url.url)
        margin = self.safety_margin_s
        if lifetime is not None:
            margin = min(margin, lifetime / 2)
        return left >= margin

    def is_acceptable(self, url: str) -> bool:
        """True if ``url`` passes the checks Bird's redirect gets (see :class:`LocationCheck`)."""
        return self.check.accepts(url)

    def from_metadata(self, recording: Recording) -> MediaURL | None:
        """The recording's own ``url`` when it is acceptable and fresh, else ``None``."""
        if not recording.url or not self.is_acceptable(recording.url):
            return None
        media_url = proto.media_url_from_string(recording.url, recording.id)
        if media_url.expires_at is None or not self.is_fresh(media_url):
            return None
        return media_url

    async def resolve(self, recording_id: str, metadata: Recording | None = None) -> MediaURL:
        """A fresh URL: the metadata's own when usable, else the latest or a new one."""
        if metadata is not None and (media_url := self.from_metadata(metadata)) is not None:
            return media_url
        return await self.refresh(recording_id, stale=None)

    async def refresh(self, recording_id: str, *, stale: MediaURL | None) -> MediaURL:
        """A fresh URL other than ``stale``; concurrent callers share one request."""
        latest = self._latest.get(recording_id)
        if (
            latest is not None
            and (stale is None or latest.url != stale.url)
            and latest.expires_at is not None
            and self.is_fresh(latest)
        ):
            return latest
        media_url = await self.flights.run(
            recording_id, functools.partial(self.fetch, recording_id)
        )
        self._remember(recording_id, media_url)
        return media_url

    def _remember(self, recording_id: str, media_url: MediaURL) -> None:
        self._latest[recording_id] = media_url
        self._latest.move_to_end(recording_id)
        while len(self._latest) > _CACHE_SIZE:
            self._latest.popitem(last=False)
