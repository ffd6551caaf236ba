"""Every default the library uses, named once.

Numbers that come from Bird's or S3's documented behaviour cite it; the rest
are our choices and are documented in ``docs/retries.md``.
"""

from __future__ import annotations

from typing import Final

DEFAULT_BASE_URL: Final = "https://api.bird.com"
ENV_ACCESS_KEY: Final = "BIRD_ACCESS_KEY"
ENV_WORKSPACE_ID: Final = "BIRD_WORKSPACE_ID"
ENV_BASE_URL: Final = "BIRD_API_URL"

AUTH_SCHEMES: Final = ("AccessKey", "Bearer")
DEFAULT_AUTH_SCHEME: Final = "AccessKey"

# Timeouts (seconds). API calls are small and bounded in total; media transfers
# are bounded only by stalls, so a 2 GiB file on a slow link can finish.
DEFAULT_CONNECT_TIMEOUT_S: Final = 10.0
DEFAULT_API_TIMEOUT_S: Final = 30.0
DEFAULT_STALL_TIMEOUT_S: Final = 30.0

# Concurrency and Bird's documented per-workspace limit of 50 GET/s.
DEFAULT_MAX_CONCURRENT_REQUESTS: Final = 32
DEFAULT_RATE_LIMIT_PER_S: Final = 50.0
DEFAULT_RATE_BURST: Final = 1
POST_RATE_LIMIT_PER_S: Final = 500.0  # Bird's documented per-workspace POST limit
DEFAULT_BULK_METADATA_CONCURRENCY: Final = 32
DEFAULT_BULK_DOWNLOAD_CONCURRENCY: Final = 8
DEFAULT_CONNECTION_POOL_SIZE: Final = 100
# Threads for downloads' file writes, hashing and renames (0: on the event loop).
DEFAULT_IO_THREADS: Final = 2

# Retry policy defaults.
DEFAULT_MAX_RETRIES: Final = 4
DEFAULT_BACKOFF_INITIAL_S: Final = 0.5
DEFAULT_BACKOFF_MAX_S: Final = 8.0
DEFAULT_BACKOFF_MULTIPLIER: Final = 2.0
DEFAULT_RETRY_AFTER_MAX_S: Final = 60.0

# The largest API response body read into memory (a page of 99 recordings is
# ~100 KiB); a larger one fails with ResponseValidationError, never exhausts memory.
MAX_API_BODY_BYTES: Final = 8 * 1024 * 1024

# Listing: Bird accepts 1..99, default 10.
LIST_LIMIT_MIN: Final = 1
LIST_LIMIT_MAX: Final = 99
CALL_RECORDINGS_LIMIT_MAX: Final = 1000
PAGE_TOKEN_MAX_CHARS: Final = 8000

# Media.
DEFAULT_CHUNK_SIZE: Final = 256 * 1024
DEFAULT_URL_SAFETY_MARGIN_S: Final = 30.0
# URL refreshes in a row without a byte of progress before MediaURLExpiredError.
MAX_CONSECUTIVE_URL_REFRESHES: Final = 4
# Restarts from zero because the stored object changed, before MediaChangedError.
MAX_RESTARTS: Final = 3
TEMP_SUFFIX: Final = ".part"

USER_AGENT_PREFIX: Final = "bird-recordings"
LOGGER_NAME: Final = "bird_recordings"

# Transcriptions. Bird's documented locales, spelled (and compared) exactly as Bird does.
TRANSCRIPTION_LOCALES: Final = frozenset(
    {
        "ar-AE", "ar-SA", "cmn-CN", "cy-GB", "da-DK", "de-CH", "de-DE", "el-GR", "en-AU",
        "en-GB", "en-GB-WLS", "en-IE", "en-IN", "en-NZ", "en-US", "en-ZA", "es-ES", "es-MX",
        "es-US", "fr-CA", "fr-FR", "he-IL", "hi-IN", "id-ID", "is-IS", "it-IT", "ja-JP",
        "ko-KR", "ms-MY", "nb-NO", "nl-NL", "pl-PL", "pt-BR", "pt-PT", "ro-RO", "ru-RU",
        "sv-SE", "ta-IN", "te-IN", "th-TH", "tr-TR", "vi-VN", "zh-CN", "zh-HK", "zh-TW",
        "arb", "af-ZA", "bn-IN", "ca-ES", "cmn-TW", "cs-CZ", "fi-FI", "fil-PH", "gu-IN",
        "hu-HU", "kn-IN", "lt-LT", "lv-LV", "ml-IN", "mr-IN", "pa-IN", "sk-SK", "sr-RS",
        "uk-UA", "yue-HK", "no-NO",
    }
)  # fmt: skip
DEFAULT_TRANSCRIPTION_LOCALE: Final = "en-US"
TRANSCRIPT_FORMATS: Final = ("json", "srt", "vtt", "txt")
# Polling a transcription: Bird's own examples took about 9 s to become available.
DEFAULT_TRANSCRIPTION_TIMEOUT_S: Final = 300.0
DEFAULT_TRANSCRIPTION_POLL_INITIAL_S: Final = 1.0
DEFAULT_TRANSCRIPTION_POLL_MAX_S: Final = 15.0
# A transcript is text: read at most this much of a body into memory.
MAX_TRANSCRIPT_BYTES: Final = 64 * 1024 * 1024
