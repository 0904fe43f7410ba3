"""The Help Scout Docs API v1 client (the knowledge base): `ApiClient`'s HTTP and wire guards
with HTTP Basic auth (the `docs_api_key` as user name, `X` as password) and a rate limiter of
its own, for the Docs API's per-account window of 10 minutes (`X-RateLimit-Limit`,
`-Remaining`, and `-Reset`: the seconds left in the window; a 429 names no Retry-After).

Every failure is an ApiError that is not fatal: a wrong key, an outage or a wait longer than
`max_rate_limit_wait_seconds` fails the Docs streams, never the Mailbox API's. The key and its
Basic form are hidden from every message.
"""
import base64

import requests

from tap_helpscout import redact
from tap_helpscout.api.client import ApiClient
from tap_helpscout.api.ratelimit import RateLimiter, _number
from tap_helpscout.api.wire import retry_after_seconds
from tap_helpscout.errors import ApiError, PermissionDenied
from tap_helpscout.logs import get_logger
from tap_helpscout.settings import DEFAULTS

LOGGER = get_logger(__name__)
WHERE_THE_KEY_IS = "Help Scout: Your Profile > Authentication > API Keys"


class DocsRateLimiter(RateLimiter):
    """The Mailbox limiter's logic on the Docs API's headers: a budget per 10-minute window,
    spent in a burst, then paced until the window ends (which every answer tells)."""

    remaining_header = "X-RateLimit-Remaining"
    limit_header = "X-RateLimit-Limit"
    reset_header = "X-RateLimit-Reset"
    window_seconds = 600.0
    window_name = "per 10 minutes"


def basic_forms(key):
    """The forms of `key` that travel in an Authorization header (base64 of `key:X`, and of
    `key:` for clients that send no password): hidden like the key itself."""
    return [base64.b64encode(f"{key}:{password}".encode()).decode() for password in ("X", "")]


class DocsClient(ApiClient):
    """The Docs API of the config (`docs_base_url`, `docs_api_key`). Thread-safe; makes no
    request until the first call."""

    name = "Help Scout Docs API"
    base_url_setting = "docs_base_url"

    def __init__(self, config, redactor=None, max_tries=None):
        redactor = redactor or redact.RUN
        self._key = str(config.get("docs_api_key") or "")
        redactor.add(self._key, *basic_forms(self._key))
        parallelism = int(config.get("max_parallel_requests") or DEFAULTS["max_parallel_requests"])
        super().__init__(config, config.get("docs_base_url") or DEFAULTS["docs_base_url"], redactor,
                         DocsRateLimiter(parallelism, config.get("max_requests_per_minute")), max_tries)

    def get(self, path, params=None, endpoint=None):
        """GET `path` (relative to docs_base_url) with query `params`: the ApiResponse of the 2xx
        answer. Raises ApiError (never a fatal one): a refused key names docs_api_key; MalformedAnswer."""
        endpoint = endpoint or path
        for attempt in (1, 2):
            try:
                url = self._url(path, endpoint)
                response, _ = self._send("GET", url, endpoint, params=params,
                                         auth=requests.auth.HTTPBasicAuth(self._key, "X"))
            except PermissionDenied:
                raise self.refused(403, endpoint) from None
            except ApiError as exc:
                if not exc.fatal:
                    raise
                raise ApiError(str(exc), status=exc.status, endpoint=exc.endpoint) from None
            if response.status != 401:
                return response
            if attempt == 1:        # a gateway's passing refusal: once more, then believe it
                LOGGER.info("%s: HTTP 401 from the Docs API; asking once more before believing it", endpoint)
        raise self.refused(401, endpoint)

    def refused(self, status, endpoint):
        why = "the key's user lacks Docs permission" if status == 403 else "a wrong or revoked key"
        return ApiError(f"the Help Scout Docs API refused docs_api_key on {endpoint} (HTTP {status}: {why}): "
                        f"copy the key from {WHERE_THE_KEY_IS}, or deselect the docs_* streams",
                        status=status, endpoint=endpoint)

    def _retry_after(self, status, headers):
        """A 429 of the Docs API names no Retry-After: wait the seconds left in the window."""
        wait = retry_after_seconds(headers)
        if wait is None and status == 429:
            reset = _number(headers, DocsRateLimiter.reset_header)
            wait = None if reset is None else max(0.0, float(reset))
        return wait

    @property
    def rate_limit_per_minute(self):
        """The window's budget spread over its 10 minutes (for progress and estimates)."""
        limit = self._limiter.limit
        return limit // 10 if limit else None

    @property
    def rate_limit_per_window(self):
        return self._limiter.limit
