"""OAuth2 access tokens for the Mailbox API: one small class per grant (`RefreshTokenGrant`,
which stores each rotated refresh token before using the new access token; `ClientCredentialsGrant`;
`StaticToken`), and the `TokenManager` that hands tokens to the client, renews them one at a
time, and gives every caller the same error when the credentials are refused.
docs/design/tokens.md tells the whole story.
"""
import threading
import time

from tap_helpscout.api.token_store import TokenStore
from tap_helpscout.config import authorize_command
from tap_helpscout.errors import ApiError, AuthError, ConfigError, TapError
from tap_helpscout.signals import GUARD

TOKEN_ENDPOINT = "oauth2/token"
# Renew this long before the announced expiry (at most a tenth of the lifetime), so that a
# request in flight never carries a token that dies on the way.
EXPIRY_MARGIN_SECONDS = 300



def reauthorize():
    """The hint that ends every message about a refresh token that can no longer be used."""
    return f"authorize the app again: {authorize_command()}"


def refresh_token_rejected():
    return ("the refresh token was rejected (it may have been used by another process, or the "
            "app was de-authorized): " + reauthorize())


class TokenAnswer:
    """What the token endpoint finally answered (after the HTTP client's retries).
    `earlier_attempt_lost`: an earlier try got no usable answer although it may have reached
    the server, so a refresh token may have been rotated without the tap seeing the new one."""

    def __init__(self, status, body, earlier_attempt_lost=False):
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.earlier_attempt_lost = earlier_attempt_lost

    def text(self, name):
        value = self.body.get(name)
        return value if isinstance(value, str) and value else None


def refusal(answer, grant, redactor):
    """The AuthError for a token answer that is not a 200."""
    error = answer.text("error") or ""
    description = answer.text("error_description") or answer.text("message") or ""
    detail = f" ({redactor.line(description or error)})" if description or error else ""
    status = answer.status
    if status == 400 and grant == RefreshTokenGrant.name and \
            error in ("invalid_request", "invalid_grant", ""):
        message = f"Help Scout: {refresh_token_rejected()}{detail}"
        if answer.earlier_attempt_lost:
            message += (". An earlier try of this refresh got no usable answer (network failure "
                        "or server error), so the server may have rotated the token without the "
                        "tap receiving the new one")
    elif status == 401 or (status == 400 and error in ("invalid_client", "unauthorized_client")):
        message = (f"Help Scout refused the client_id/client_secret{detail}: check them in the "
                   f"config (Help Scout > Your Profile > My Apps)")
    else:
        message = f"Help Scout's token endpoint refused the {grant} grant with HTTP {status}{detail}: {reauthorize()}"
    return AuthError(message, status=status, endpoint=TOKEN_ENDPOINT)


class StaticToken:
    name = "access_token"

    def renew(self, post_token, refused):
        raise AuthError(
            "Help Scout refused the configured access_token (401): it has expired or been "
            "revoked. Put a new access_token in the config, or configure client_id and "
            f"client_secret (and a refresh_token from {authorize_command()}) so "
            "that the tap can renew its token itself", status=401)


class ClientCredentialsGrant:
    name = "client_credentials"

    def __init__(self, client_id, client_secret, redactor):
        self.form = {"grant_type": self.name, "client_id": client_id, "client_secret": client_secret}
        self.redactor = redactor

    def renew(self, post_token, refused):
        """(access_token, expires_in) of a new token."""
        answer = post_token(self.form)
        if answer.status != 200:
            raise refusal(answer, self.name, self.redactor)
        return _access_token(answer), answer.body.get("expires_in")


class RefreshTokenGrant:
    name = "refresh_token"

    def __init__(self, client_id, client_secret, refresh_token, store, redactor):
        self.client = {"client_id": client_id, "client_secret": client_secret}
        self.refresh_token = refresh_token
        self.store = store
        self.redactor = redactor

    def renew(self, post_token, refused):
        """(access_token, expires_in): a token another run stored meanwhile, else a refresh
        whose new refresh token is stored before anything uses it, in room taken on the
        store's disk before the old one was spent."""
        with self.store.lock():
            stored_refresh, stored_access = self.store.current()
            if stored_refresh and stored_refresh != self.refresh_token:
                self.refresh_token = stored_refresh          # another run rotated it
                self.redactor.add(stored_refresh, stored_access)
                if stored_access and stored_access != refused:
                    return stored_access, None
            self.store.prepare()
            try:
                answer = self.rotate(post_token)
            finally:
                self.store.release()
        if answer.status != 200:
            raise refusal(answer, self.name, self.redactor)
        return _access_token(answer), answer.body.get("expires_in")

    def rotate(self, post_token):
        """The refresh request, and the rotated refresh token stored before anything uses it."""
        answer = post_token({"grant_type": self.name, "refresh_token": self.refresh_token, **self.client})
        new_refresh = answer.text("refresh_token")
        if answer.status == 200 and new_refresh and new_refresh != self.refresh_token:
            # Only the new one works from now on: store it first, even when the answer is
            # unusable otherwise (no access token).
            self.redactor.add(new_refresh)
            try:
                self.store.save(new_refresh, answer.text("access_token"))
            except OSError as exc:
                raise TapError(
                    f"Help Scout rotated the refresh token, but it could not be stored in "
                    f"{self.store.path} ({exc.strerror or exc}); the old one no longer works. Make "
                    f"that file writable (or set token_store_path), then {reauthorize()}") from None
            self.refresh_token = new_refresh
        return answer


def _access_token(answer):
    token = answer.text("access_token")
    if token is None:
        raise AuthError("the Help Scout token endpoint answered without an access token",
                        status=answer.status, endpoint=TOKEN_ENDPOINT)
    return token


def make_grant(config, store, redactor):
    """The grant the config (and token store) calls for: (grant, first access token)."""
    client_id, client_secret = config.get("client_id"), config.get("client_secret")
    refresh_token, access_token = store.initial()
    redactor.add(client_secret, refresh_token, access_token)
    if refresh_token:
        if not (client_id and client_secret):
            raise ConfigError("the config has a refresh_token but no client_id or client_secret: "
                              "all three are needed to renew the access token")
        return RefreshTokenGrant(client_id, client_secret, refresh_token, store, redactor), access_token
    if client_id and client_secret:
        return ClientCredentialsGrant(client_id, client_secret, redactor), access_token
    if access_token:
        return StaticToken(), access_token
    raise ConfigError(
        "the config holds no Help Scout credentials: give client_id, client_secret and "
        f"refresh_token (from {authorize_command()}), or client_id and client_secret "
        "(client-credentials flow for internal apps), or an access_token")


class TokenManager:
    """The current access token, renewed when needed. Thread-safe.

    `post_token(form) -> TokenAnswer` posts a grant to the token endpoint (the HTTP client
    does, with its retries); `redactor` learns every token obtained."""

    def __init__(self, config, config_path, post_token, redactor, clock=time.monotonic,
                 store=None):
        self._post_token = post_token
        self._redactor = redactor
        self._clock = clock
        self._grant, self._access_token = make_grant(
            config, store or TokenStore(config, config_path), redactor)
        self._expires_at = None          # unknown for a given token: valid until refused
        self._lock = threading.Lock()
        self._fatal = None               # a refusal no retry can cure, raised to every caller
        self.mode = self._grant.name
        self.refresh_count = 0

    def token(self):
        """The access token to send now, renewing it first when there is none or it expires."""
        with self._lock:
            if self._access_token is None or self._expiring():
                self._renew(refused=None)
            return self._access_token

    def replace_refused(self, refused_token):
        """A request carrying `refused_token` got a 401: a token worth one more try (another
        thread's replacement when there is one, without a new renewal)."""
        with self._lock:
            if self._access_token not in (refused_token, None) and not self._expiring():
                return self._access_token
            self._renew(refused=refused_token)
            return self._access_token

    def _expiring(self):
        return self._expires_at is not None and self._clock() >= self._expires_at

    def _renew(self, refused):
        if self._fatal is not None:
            raise self._fatal
        try:
            # A refresh token rotated by Help Scout must be stored before a signal stops the run.
            with GUARD.deferred():
                token, expires_in = self._grant.renew(self._post_token, refused)
        except ApiError as exc:
            if exc.fatal:               # refused credentials: the same answer for everyone
                self._fatal = exc
            raise
        except TapError as exc:         # the token cannot be stored, or the lock not taken
            self._fatal = exc
            raise
        self._redactor.add(token)
        self._access_token = token
        self._expires_at = self._expiry(expires_in)
        self.refresh_count += 1

    def _expiry(self, expires_in):
        """When to renew; None (only on refusal) for a lifetime that is missing, not a number,
        or not positive, which would otherwise mean a renewal before every request."""
        try:
            lifetime = float(expires_in)
        except (TypeError, ValueError):
            return None
        if not lifetime > 0 or lifetime == float("inf"):
            return None
        return self._clock() + lifetime - min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
