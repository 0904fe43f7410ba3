"""Hiding secrets from every message the tap shows: a `Redactor` replaces each secret of the run
(the config's, and every token obtained since) and anything shaped like a credential, and makes
a server's text one safe line. `RUN` is the run's own. docs/design/http.md.
"""
import re
import threading
import unicodedata
from urllib.parse import quote, quote_plus

MASK = "<redacted>"
LINE_LIMIT = 300
# Shorter values are not worth hiding (and hiding them would garble every message).
MIN_SECRET_LENGTH = 4

_LOOKS_LIKE_A_CREDENTIAL = [
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s'\",;]+"), r"\1\2" + MASK),
    (re.compile(r"(?i)((?:access_token|refresh_token|client_secret|password)[\"']?\s*[=:]\s*[\"']?)"
                r"[^\s&'\",;}]+"), r"\1" + MASK),
]
_SPACES = re.compile(r"\s+")


class Redactor:
    """Replaces every secret it was told about. Thread-safe; secrets can be added at any time."""

    def __init__(self, secrets=()):
        self._lock = threading.Lock()
        self._secrets = ()
        self.add(*secrets)

    def add(self, *secrets):
        """Hide these values (and their URL-encoded forms) from now on."""
        fresh = set()
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                fresh |= {secret, quote(secret, safe=""), quote_plus(secret)}
        if not fresh:
            return
        with self._lock:
            # Longest first, so that a secret containing another is hidden whole.
            self._secrets = tuple(sorted(fresh.union(self._secrets), key=len, reverse=True))

    def scrub(self, text):
        """`text` with every known secret, and anything shaped like a credential, masked.
        Line breaks are kept (for a traceback)."""
        text = str(text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _LOOKS_LIKE_A_CREDENTIAL:
            text = pattern.sub(replacement, text)
        return text

    def line(self, text, limit=LINE_LIMIT):
        """`scrub(text)` as one line: control and formatting characters (newlines, escape
        sequences, bidirectional overrides) become spaces, runs of spaces one space, and the
        result is cut to `limit` characters."""
        text = self.scrub(text)
        text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
        text = _SPACES.sub(" ", text).strip()
        if len(text) > limit:
            text = text[:limit - 1].rstrip() + "…"
        return text


RUN = Redactor()
