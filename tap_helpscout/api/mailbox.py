"""The Help Scout Mailbox API 2.0 client: `ApiClient`'s HTTP with OAuth2 bearer tokens
(auth.TokenManager), renewed once when a request is refused (401), and the token endpoint that
`--authorize` and the grants post to."""
import threading

from tap_helpscout import redact
from tap_helpscout.api.auth import TOKEN_ENDPOINT, TokenAnswer, TokenManager, reauthorize, refusal
from tap_helpscout.api.client import ApiClient
from tap_helpscout.api.ratelimit import RateLimiter
from tap_helpscout.api.wire import Bearer
from tap_helpscout.errors import AuthError
from tap_helpscout.logs import get_logger
from tap_helpscout.settings import DEFAULTS

LOGGER = get_logger(__name__)


class HelpScoutClient(ApiClient):
    """The Mailbox API of the config (`base_url`, OAuth2 credentials). Thread-safe; makes no
    request until the first call (discovery never refreshes a token)."""

    name = "Help Scout API"

    def __init__(self, config, config_path=None, redactor=None, max_tries=None):
        redactor = redactor or redact.RUN
        redactor.add(*(config.get(k) for k in ("client_secret", "refresh_token", "access_token")))
        parallelism = int(config.get("max_parallel_requests") or DEFAULTS["max_parallel_requests"])
        super().__init__(config, config.get("base_url") or DEFAULTS["base_url"], redactor,
                         RateLimiter(parallelism, config.get("max_requests_per_minute")), max_tries)
        self._tokens = TokenManager(config, config_path, self._token_answer, self._redactor)
        self._token_checked = threading.Lock()
        self._token_works = None

    def get(self, path, params=None, endpoint=None):
        """GET `path` (relative to base_url, or an absolute link on its origin) with query
        `params`: the ApiResponse of the 2xx answer. Raises PermissionDenied (403), AuthError
        (credentials refused), RateLimitWaitTooLong, ApiUnreachable, MalformedAnswer, ApiError."""
        endpoint = endpoint or path
        url = self._url(path, endpoint)
        token = self._tokens.token()
        response, _ = self._send("GET", url, endpoint, params=params, auth=Bearer(token))
        if response.status == 401:
            LOGGER.info("%s: access token refused (401); renewing it and trying once more", endpoint)
            token = self._tokens.replace_refused(token)
            response, _ = self._send("GET", url, endpoint, params=params, auth=Bearer(token))
            if response.status == 401:
                raise AuthError(f"Help Scout refused a freshly renewed access token on {endpoint} "
                                f"(401): the authorizing user may be inactive or the app "
                                f"de-authorized; {reauthorize()}",
                                status=401, endpoint=endpoint)
        return response

    def post_token(self, form):
        """POST a grant `form` to the token endpoint (`--authorize` sends the code grant): the
        answer's JSON object on a 200, whose tokens are hidden from every message from now on.
        Raises AuthError when the grant is refused, and the errors of `get`."""
        answer = self._token_answer(form)
        if answer.status != 200:
            raise refusal(answer, str(form.get("grant_type")), self._redactor)
        return answer.body

    def token_works(self, refusal_401):
        """Whether the current token works on `/users/me` (asked once per run), after
        `refusal_401` (an AuthError) elsewhere: then that endpoint refuses the token, which
        for a report means the account's plan lacks it. A refusal by the token endpoint itself
        is about the credentials."""
        if refusal_401.endpoint == TOKEN_ENDPOINT:
            return False
        with self._token_checked:
            if self._token_works is None:
                try:
                    self.get("/users/me", endpoint="users/me")
                    self._token_works = True
                except AuthError:
                    self._token_works = False
            return self._token_works

    @property
    def rate_limit_per_minute(self):
        return self._limiter.limit

    @property
    def refresh_count(self):
        return self._tokens.refresh_count

    def _token_answer(self, form):
        """The token endpoint's final answer, for TokenManager (400, 401, 403 are answers)."""
        self._redactor.add(form.get("client_secret"), form.get("refresh_token"), form.get("code"))
        response, lost = self._send("POST", self._base_url + "/" + TOKEN_ENDPOINT, TOKEN_ENDPOINT,
                                    data=form, counted="token_requests")
        body = response.json if isinstance(response.json, dict) else {}
        self._redactor.add(body.get("access_token"), body.get("refresh_token"))
        return TokenAnswer(response.status, body, lost)
