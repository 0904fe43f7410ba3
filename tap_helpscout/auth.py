"""OAuth2 access tokens for the Help Scout Mailbox API.

Three modes, chosen from the config:
- refresh-token grant (`refresh_token`, `client_id`, `client_secret`): Help Scout rotates the
  refresh token on every use, so each new one is written to the config file (atomically, see
  `config_file`) before the new access token is used. The new access token is stored as well:
  the next run then starts with it and needs no rotation until it expires (48 h), which keeps
  the moments where a crash could lose the only valid refresh token rare.
- client-credentials grant (`client_id`, `client_secret`, no `refresh_token`): Help Scout's flow
  for internal apps. Nothing rotates and nothing is written.
- a bare `access_token` (none of the above): used as is, never refreshed.

A configured `access_token` is always tried first; the grant is used when it is refused (401) or
about to expire. Tokens are obtained lazily, on the first API request, never when the client is
built (so `--discover` makes no request). One refresh runs at a time: threads that need a token
meanwhile wait for it and reuse it. No token or secret ever appears in a message.

If the rotated refresh token cannot be written to the config file, the tap stops with an error
that says so, instead of syncing on: the old token is already dead on the server, so the user
has to re-authorize either way, and stopping at once tells them before a long sync ends.
"""
import threading
import time

import singer

from tap_helpscout.config_file import read_token_store, update_config_file, write_token_store
from tap_helpscout.errors import ApiError, AuthError, ConfigError, TapError

LOGGER = singer.get_logger()

REFRESH_GRANT = "refresh_token"
CLIENT_CREDENTIALS_GRANT = "client_credentials"
STATIC_TOKEN = "access_token"

# Refresh this long before the token's announced expiry (at most a tenth of its lifetime), so
# that requests in flight never carry a token that dies on the way.
EXPIRY_MARGIN_SECONDS = 300

REAUTHORIZE = "run the authorization-code flow again, see README"
REFRESH_TOKEN_REJECTED = ("the refresh token was rejected (it may have been used by another "
                          "process, or the app was de-authorized): " + REAUTHORIZE)


def auth_mode(config):
    """The grant the config calls for, or None when it holds no usable credentials."""
    has_client = bool(config.get("client_id")) and bool(config.get("client_secret"))
    if config.get("refresh_token"):
        return REFRESH_GRANT
    if has_client:
        return CLIENT_CREDENTIALS_GRANT
    if config.get("access_token"):
        return STATIC_TOKEN
    return None


class TokenAnswer:
    """What the token endpoint finally answered, after transport retries.

    `earlier_attempt_lost` is true when an earlier try of the same request failed in a way that
    may have reached the server (dropped connection, timeout, cut body): a refresh token may
    then have been rotated without the tap ever seeing the new one."""

    def __init__(self, status, body, earlier_attempt_lost):
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.earlier_attempt_lost = earlier_attempt_lost


class TokenManager:
    """Holds the current access token and obtains a new one when needed. Thread-safe.

    `request_token(form) -> TokenAnswer` posts the form to the token endpoint (the HTTP client
    does that, with its retries)."""

    def __init__(self, config, config_path, request_token, clock=time.monotonic):
        self._config_path = config_path
        self._request_token = request_token
        self._clock = clock
        self._client_id = config.get("client_id")
        self._client_secret = config.get("client_secret")
        self._refresh_token = config.get("refresh_token")
        self._access_token = config.get("access_token") or None
        # Where the rotated refresh token is kept when the config file is not the place: under
        # Meltano, for one, the config file is regenerated for every run.
        self._store_path = config.get("token_store_path")
        self._config_refresh_token = self._refresh_token
        if self._store_path and self._refresh_token:
            stored = read_token_store(self._store_path, self._refresh_token)
            if stored:
                self._refresh_token = stored
                self._access_token = None       # issued for an older refresh token, maybe
        self._expires_at = None          # unknown for a configured token: valid until refused
        self._lock = threading.Lock()
        self._fatal = None               # a refusal no retry can cure, raised to every caller
        self.mode = auth_mode(config)
        self.refresh_count = 0

    def token(self):
        """The access token to send now, obtaining one first if there is none or it is about
        to expire."""
        with self._lock:
            if self._access_token is None or self._expiring():
                self._obtain_once()
            return self._access_token

    def replace_refused(self, refused_token):
        """A request carrying `refused_token` got a 401: return a token worth one more try.
        When another thread has already replaced that token, its replacement is returned
        without a new refresh."""
        with self._lock:
            if self._access_token != refused_token and self._access_token is not None \
                    and not self._expiring():
                return self._access_token
            if self.mode == STATIC_TOKEN:
                raise AuthError(
                    "Help Scout refused the configured access_token (401): it has expired or "
                    "been revoked. Put a new access_token in the config, or configure client_id "
                    "and client_secret (and a refresh_token from the authorization-code flow, "
                    "see README) so that the tap can renew its token itself", status=401)
            self._obtain_once()
            return self._access_token

    def _expiring(self):
        return self._expires_at is not None and self._clock() >= self._expires_at

    def _obtain_once(self):
        """Obtain a token; once the credentials are refused (or the rotated token could not be
        stored), every later caller gets the same error without another token request."""
        if self._fatal is not None:
            raise self._fatal
        try:
            self._obtain()
        except (AuthError, ConfigError) as exc:
            self._fatal = exc
            raise
        except TapError as exc:
            if not isinstance(exc, ApiError):       # not a transient API failure
                self._fatal = exc
            raise

    def _obtain(self):
        if self.mode is None:
            raise ConfigError(
                "the config holds no Help Scout credentials: give client_id, client_secret and "
                "refresh_token (authorization-code flow, see README), or client_id and "
                "client_secret (client-credentials flow for internal apps), or an access_token")
        if not (self._client_id and self._client_secret):
            raise ConfigError("the config has a refresh_token but no client_id or client_secret: "
                              "all three are needed to renew the access token")
        form = {"grant_type": self.mode, "client_id": self._client_id,
                "client_secret": self._client_secret}
        if self.mode == REFRESH_GRANT:
            form["refresh_token"] = self._refresh_token
        answer = self._request_token(form)
        if answer.status != 200:
            raise self._refusal(answer)
        access_token = answer.body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise AuthError("the Help Scout token endpoint answered without an access token",
                            status=answer.status, endpoint="oauth2/token")
        new_refresh_token = answer.body.get("refresh_token")
        if self.mode == REFRESH_GRANT and isinstance(new_refresh_token, str) and new_refresh_token:
            if new_refresh_token != self._refresh_token:
                self._persist(new_refresh_token, access_token)
            self._refresh_token = new_refresh_token
        self._access_token = access_token
        self._expires_at = self._expiry(answer.body.get("expires_in"))
        self.refresh_count += 1

    def _expiry(self, expires_in):
        try:
            lifetime = float(expires_in)
        except (TypeError, ValueError):
            return None
        return self._clock() + lifetime - min(EXPIRY_MARGIN_SECONDS, lifetime / 10)

    def _persist(self, refresh_token, access_token):
        """Store the rotated tokens before anything uses them: from now on only the new refresh
        token works, and a crash must not lose it. With a token store, the store holds it and
        the config file is updated as well when it can be."""
        if self._store_path:
            try:
                write_token_store(self._store_path, refresh_token, self._config_refresh_token)
            except OSError as exc:
                raise TapError(
                    f"Help Scout rotated the refresh token, but the token store {self._store_path} "
                    f"could not be written ({exc.strerror or exc}); the old refresh token no longer "
                    f"works. Make the token store's folder writable, then {REAUTHORIZE}") from None
        if self._config_path is None:
            return      # a library caller without a config file keeps tokens in memory only
        try:
            update_config_file(self._config_path,
                               {"refresh_token": refresh_token, "access_token": access_token})
        except (OSError, ConfigError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if self._store_path:
                LOGGER.warning("the rotated refresh token is in the token store %s; the config file "
                               "could not be updated as well (%s)", self._store_path, reason)
                return
            raise TapError(
                f"Help Scout rotated the refresh token, but the config file {self._config_path} "
                f"could not be updated ({reason}); the old refresh token no longer works. Make "
                f"the config file and its folder writable, then {REAUTHORIZE}") from None

    def _refusal(self, answer):
        error = str(answer.body.get("error") or "")
        description = str(answer.body.get("error_description") or answer.body.get("message") or "")
        detail = f" ({description})" if description else (f" ({error})" if error else "")
        if answer.status == 400 and self.mode == REFRESH_GRANT and \
                error in ("invalid_request", "invalid_grant", ""):
            message = f"Help Scout: {REFRESH_TOKEN_REJECTED}{detail}"
            if answer.earlier_attempt_lost:
                message += (". An earlier try of this refresh got no usable answer (network "
                            "failure or server error), so the server may have rotated the token "
                            "without the tap receiving the new one")
            return AuthError(message, status=400, endpoint="oauth2/token")
        if answer.status == 401 or (answer.status == 400 and
                                    error in ("invalid_client", "unauthorized_client")):
            return AuthError(f"Help Scout refused the client_id/client_secret{detail}: check them "
                             f"in the config (Help Scout > Your Profile > My Apps)",
                             status=answer.status, endpoint="oauth2/token")
        return AuthError(f"Help Scout's token endpoint refused the {self.mode} grant with HTTP "
                         f"{answer.status}{detail}: {REAUTHORIZE}",
                         status=answer.status, endpoint="oauth2/token")
