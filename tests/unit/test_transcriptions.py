"""Pure transcription helpers: locales, formats, request bodies, poll delays, decoding, models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bird_recordings as br
from bird_recordings._constants import TRANSCRIPTION_LOCALES
from bird_recordings._converter import make_converter, structure
from bird_recordings._transcriptions import (
    check_format,
    check_locale,
    check_wait_options,
    create_body,
    decode_content,
    poll_delay_s,
    recording_id_for_create,
    transcript_target,
    transcription_id_of,
    transcription_path,
)

# Bird's list, as docs.bird.com spells it (copied here so a typo in either is noticed).
DOCUMENTED = """ar-AE, ar-SA, cmn-CN, cy-GB, da-DK, de-CH, de-DE, el-GR, en-AU, en-GB, en-GB-WLS,
en-IE, en-IN, en-NZ, en-US, en-ZA, es-ES, es-MX, es-US, fr-CA, fr-FR, he-IL, hi-IN, id-ID,
is-IS, it-IT, ja-JP, ko-KR, ms-MY, nb-NO, nl-NL, pl-PL, pt-BR, pt-PT, ro-RO, ru-RU, sv-SE,
ta-IN, te-IN, th-TH, tr-TR, vi-VN, zh-CN, zh-HK, zh-TW, arb, af-ZA, bn-IN, ca-ES, cmn-TW,
cs-CZ, fi-FI, fil-PH, gu-IN, hu-HU, kn-IN, lt-LT, lv-LV, ml-IN, mr-IN, pa-IN, sk-SK, sr-RS,
uk-UA, yue-HK, no-NO"""
STRICT = make_converter(strict=True)


def test_the_locale_list_is_bird_s() -> None:
    documented = {item.strip() for item in DOCUMENTED.replace("\n", " ").split(",")}
    assert documented == TRANSCRIPTION_LOCALES
    assert len(TRANSCRIPTION_LOCALES) == 66


@pytest.mark.parametrize("locale", sorted(TRANSCRIPTION_LOCALES))
def test_every_documented_locale_is_accepted(locale: str) -> None:
    assert check_locale(locale) == locale


@pytest.mark.parametrize(
    ("given_locale", "suggested"),
    [
        ("en-us", "'en-US'"),
        ("EN-GB", "'en-GB'"),
        ("en_GB", "'en-GB'"),
        ("pt_br", "'pt-BR'"),
        ("fr", "'fr-FR'"),
        ("en-GB-wls", "'en-GB-WLS'"),
        ("ARB", "'arb'"),
    ],
)
def test_near_misses_name_the_nearest_locales(given_locale: str, suggested: str) -> None:
    with pytest.raises(br.InvalidArgumentError) as caught:
        check_locale(given_locale)
    message = str(caught.value)
    assert suggested in message
    assert "case-sensitive" in message
    assert message.count("'") <= 2 * 4  # the input plus at most three suggestions


@pytest.mark.parametrize("bad", ["", "   ", None, 42, "klingon-QO"])
def test_nonsense_locales_are_refused(bad: object) -> None:
    with pytest.raises(br.InvalidArgumentError):
        check_locale(bad)  # type: ignore[arg-type]


@given(st.text(max_size=12))
def test_check_locale_accepts_exactly_the_list(text: str) -> None:
    if text in TRANSCRIPTION_LOCALES:
        assert check_locale(text) == text
    else:
        with pytest.raises(br.InvalidArgumentError):
            check_locale(text)


def test_formats() -> None:
    for fmt in ("json", "srt", "vtt", "txt"):
        assert check_format(fmt) == fmt
    for bad in ("JSON", "pdf", "", ".vtt"):
        with pytest.raises(br.InvalidArgumentError, match="json, srt, vtt, txt"):
            check_format(bad)


def test_paths_quote_segments() -> None:
    assert transcription_path("ws") == "/workspaces/ws/transcriptions"
    assert transcription_path("ws", "t/1", ".vtt") == "/workspaces/ws/transcriptions/t%2F1.vtt"
    with pytest.raises(br.InvalidArgumentError):
        transcription_path("ws", " ")


def test_create_body() -> None:
    assert create_body("en-US") == {"locale": "en-US"}
    assert create_body("de-DE", "m", "c") == {
        "locale": "de-DE",
        "messageId": "m",
        "conversationId": "c",
    }
    with pytest.raises(br.InvalidArgumentError):
        create_body("en-US", conversation_id="")


@given(
    polls=st.integers(min_value=0, max_value=200),
    initial=st.floats(min_value=0.01, max_value=10),
    cap=st.floats(min_value=10, max_value=120),
    rand=st.floats(min_value=0, max_value=0.999999),
)
def test_poll_delay_is_jittered_capped_and_never_zero(
    polls: int, initial: float, cap: float, rand: float
) -> None:
    delay = poll_delay_s(polls, initial_s=initial, max_s=cap, rand=lambda: rand)
    nominal = min(cap, initial * 2**polls)
    assert nominal / 2 <= delay <= nominal
    assert delay > 0


def test_poll_delay_doubles_then_caps() -> None:
    delays = [poll_delay_s(n, initial_s=1, max_s=15, rand=lambda: 0.999999) for n in range(7)]
    assert [round(d) for d in delays] == [1, 2, 4, 8, 15, 15, 15]


def test_retry_after_is_a_floor() -> None:
    assert poll_delay_s(0, initial_s=1, max_s=15, retry_after_s=30, rand=lambda: 0) == 30
    assert poll_delay_s(5, initial_s=1, max_s=15, retry_after_s=0, rand=lambda: 0) == 7.5


def test_decode_content() -> None:
    assert decode_content("\ufeffWEBVTT\n".encode(), "vtt", what="t") == "WEBVTT\n"
    assert decode_content(b'{"a": [1]}', "json", what="t") == {"a": [1]}
    assert decode_content("olá".encode(), "txt", what="t") == "olá"
    with pytest.raises(br.ResponseValidationError, match="not UTF-8"):
        decode_content(b"\xff", "srt", what="t")
    with pytest.raises(br.ResponseValidationError):
        decode_content(b"{", "json", what="t")


def test_targets(tmp_path: Path) -> None:
    assert transcript_target("t1", tmp_path, "vtt") == tmp_path / "t1.vtt"
    assert transcript_target("t1", tmp_path / "x.srt", "srt") == tmp_path / "x.srt"
    assert transcript_target("t1", f"{tmp_path}/new/", "txt") == tmp_path / "new" / "t1.txt"
    # A name is one safe component or nothing: "../t1" is refused, not trimmed.
    with pytest.raises(br.UnsafePathError):
        transcript_target("../t1", None, "txt")
    with pytest.raises(br.UnsafePathError):
        transcript_target("t1", tmp_path / "a\x00b.txt", "txt")


def test_references() -> None:
    model = structure(_payload("available"), br.Transcription, what="t", conv=STRICT)
    assert transcription_id_of(model) == model.id
    assert transcription_id_of("abc") == "abc"
    with pytest.raises(br.InvalidArgumentError):
        transcription_id_of("")
    with pytest.raises(br.InvalidArgumentError):
        recording_id_for_create(3)  # type: ignore[arg-type]


def test_wait_options() -> None:
    check_wait_options(None, 1, 1)
    for args in [(0, 1, 2), (1, 0, 2), (1, 2, 1), (True, 1, 1), (1, float("nan"), 2)]:
        with pytest.raises(br.InvalidArgumentError):
            check_wait_options(*args)


# Models and errors ------------------------------------------------------------------


def _payload(status: str, **extra: object) -> dict[str, object]:
    return {
        "id": "7f1c2e3d-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
        "recordingId": "5b74ee9e-9d45-473a-82cd-f1f7feea6bbd",
        "status": status,
        "stereo": True,
        "locale": "en-US",
        "createdAt": "2023-10-24T17:34:26.770123456Z",
        "updatedAt": "2023-10-24T17:34:35Z",
        **extra,
    }


def test_transcription_model_and_repr() -> None:
    url = "https://b.s3.amazonaws.com/t.json?X-Amz-Signature=0123456789abcdef&X-Amz-Expires=600"
    model = structure(
        _payload("available", url=url, summary="A call."), br.Transcription, what="t", conv=STRICT
    )
    assert model.is_available
    assert model.stereo is True
    assert model.created_at.microsecond == 770123
    assert "0123456789abcdef" not in repr(model)
    assert json.loads(json.dumps(model.summary)) == "A call."


@pytest.mark.parametrize(
    ("status", "final"),
    [
        ("accepted", False),
        ("ongoing", False),
        ("available", True),
        ("absent", True),
        ("failed", True),
        ("paused", False),
    ],
)
def test_status_is_final(status: str, final: bool) -> None:
    assert br.TranscriptionStatus(status).is_final is final


def test_errors() -> None:
    failed = br.TranscriptionFailedError("t1", "absent")
    assert isinstance(failed, br.TranscriptionNotAvailableError)
    assert "nothing to transcribe" in str(failed)
    assert "failed" in str(br.TranscriptionFailedError("t1", "failed"))
    waiting = br.TranscriptionNotAvailableError("t1", "ongoing")
    assert "'ongoing'" in str(waiting)
    timeout = br.TranscriptionTimeoutError("t1", 300)
    assert isinstance(timeout, TimeoutError)
    assert isinstance(timeout, br.BirdRecordingsError)
    assert "300 s" in str(timeout)


def test_summary_of_an_undocumented_shape_is_kept_as_json() -> None:
    from bird_recordings._converter import converter, structure

    payload = _payload("available", summary={"text": "A call.", "topics": ["billing"]})
    model = structure(payload, br.Transcription, what="t", conv=converter)
    assert model.summary == {"text": "A call.", "topics": ["billing"]}
