"""Redaction of URLs and headers: no signature, token, credential or userinfo survives."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import bird_recordings as br
from bird_recordings._converter import structure
from bird_recordings._redact import REDACTED, redact_headers, redact_url
from tests.fixtures import load

PRESIGNED = (
    "https://bucket.s3.eu-west-1.amazonaws.com/ws%3A8bc0/rec.mp3"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAEXAMPLE%2F20231024%2Feu-west-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20231024T173426Z&X-Amz-Expires=600"
    "&X-Amz-Security-Token=SESSIONTOKENSECRET&X-Amz-SignedHeaders=host"
    "&x-id=GetObject&X-Amz-Signature=1fd8deadbeefcafe"
)
SECRETS = ("ASIAEXAMPLE", "SESSIONTOKENSECRET", "1fd8deadbeefcafe")


def test_presigned_url_secrets_are_replaced_and_the_rest_kept() -> None:
    out = redact_url(PRESIGNED)
    for secret in SECRETS:
        assert secret not in out
    query = dict(parse_qsl(urlsplit(out).query))
    assert query["X-Amz-Signature"] == REDACTED
    assert query["X-Amz-Security-Token"] == REDACTED
    assert query["X-Amz-Credential"] == REDACTED
    # What helps debugging stays: host, path, algorithm, date, expiry.
    assert out.startswith("https://bucket.s3.eu-west-1.amazonaws.com/ws%3A8bc0/rec.mp3?")
    assert query["X-Amz-Date"] == "20231024T173426Z"
    assert query["X-Amz-Expires"] == "600"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["x-id"] == "GetObject"


@pytest.mark.parametrize(
    ("url", "secret", "kept"),
    [
        ("https://user:hunter2@api.bird.test/x", "hunter2", "@api.bird.test/x"),
        ("https://onlyuser@api.bird.test/x", "onlyuser", "@api.bird.test/x"),
        ("https://h.test/a?x-amz-signature=lowercase", "lowercase", "https://h.test/a?"),
        ("https://h.test/a?X-AMZ-SECURITY-TOKEN=upper", "upper", "https://h.test/a?"),
        ("https://h.test/a?Signature=v2sig&AWSAccessKeyId=AKIA1", "v2sig", "https://h.test/a"),
        ("https://h.test/a?Signature=v2sig&AWSAccessKeyId=AKIA1", "AKIA1", "https://h.test/a"),
        ("https://h.test/a?access_token=tok123&page=2", "tok123", "page=2"),
        ("https://h.test/a?X-Goog-Signature=gsig", "gsig", "https://h.test/a"),
    ],
)
def test_secrets_are_hidden(url: str, secret: str, kept: str) -> None:
    out = redact_url(url)
    assert secret not in out
    assert REDACTED in out
    assert kept in out


@pytest.mark.parametrize(
    "url",
    [
        "https://api.bird.com/workspaces/ws/recordings?limit=10&pageToken=abc",
        "https://api.bird.com/workspaces/ws/recordings/5b74ee9e",
        "http://127.0.0.1:8080/x",
    ],
)
def test_urls_without_secrets_are_unchanged(url: str) -> None:
    assert redact_url(url) == url


def test_unparsable_url_is_fully_redacted() -> None:
    assert redact_url("http://[::1/secret?X-Amz-Signature=abc") == REDACTED


def test_redact_url_accepts_non_strings() -> None:
    class Yarlish:
        def __str__(self) -> str:
            return "https://u:p@h.test/"

    assert redact_url(Yarlish()) == f"https://{REDACTED}@h.test/"


@given(st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=8))
def test_signature_value_never_survives(secret: str) -> None:
    assume(secret != REDACTED)
    out = redact_url(f"https://h.test/o.mp3?X-Amz-Date=20231024T173426Z&X-Amz-Signature={secret}")
    assert f"Signature={secret}" not in out
    assert dict(parse_qsl(urlsplit(out).query))["X-Amz-Signature"] == REDACTED


def test_headers() -> None:
    headers = {
        "Authorization": "AccessKey secret-key",
        "cookie": "session=abc",
        "Set-Cookie": "session=def",
        "X-Amz-Security-Token": "tok",
        "Accept": "application/json",
        "Range": "bytes=10-",
    }
    out = redact_headers(headers)
    assert out == {
        "Authorization": REDACTED,
        "cookie": REDACTED,
        "Set-Cookie": REDACTED,
        "X-Amz-Security-Token": REDACTED,
        "Accept": "application/json",
        "Range": "bytes=10-",
    }
    assert headers["Authorization"] == "AccessKey secret-key"  # a copy, not in place


def test_recording_repr_redacts_the_presigned_url() -> None:
    rec = structure(load("recording_real.json"), br.Recording, what="r")
    text = repr(rec)
    assert "1fd8deadbeefsignature" not in text
    assert "SECRETSESSIONTOKEN" not in text
    assert "ASIAEXAMPLECRED" not in text
    assert "X-Amz-Expires=600" in text


def test_media_url_repr_redacts() -> None:
    media = br.MediaURL(url=PRESIGNED, recording_id="r1")
    text = repr(media)
    for secret in SECRETS:
        assert secret not in text
    assert media.url == PRESIGNED
