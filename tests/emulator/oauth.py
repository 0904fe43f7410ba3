"""The emulator's OAuth2 side: access and refresh tokens, the token endpoint
(`POST /v2/oauth2/token`) and the browser's authorization page of the code flow
(`GET /authentication/authorizeClientApplication`, on secure.helpscout.net in real life).

Token lifetimes are real, unscaled seconds (`time.time()`).
"""
import base64
import binascii
import html
import json
import secrets
import threading
import time
from urllib.parse import parse_qsl, urlencode

from .shapes import JSON, Reply, dumps

AUTHORIZE_PATH = "/authentication/authorizeClientApplication"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"     # the tap's default loopback callback
INVALID_REFRESH = b'{"error_description":"Invalid refresh_token","error":"invalid_request"}'


def oauth_error(status, error, description):
    return Reply(status, dumps({"error": error, "error_description": description}), JSON)


class OAuth:
    def __init__(self, client_id=None, client_secret=None, refresh_token=None, token_lifetime=172800,
                 redirect_uri=DEFAULT_REDIRECT_URI):
        self.client_id = client_id or secrets.token_hex(16)
        self.client_secret = client_secret or secrets.token_hex(16)
        self.token_lifetime = token_lifetime
        self.redirect_uri = redirect_uri
        self.authorization_code = secrets.token_hex(16)   # one code always ready (single use)
        self.lock = threading.Lock()
        self._codes = set()                  # codes handed out by the authorization page, unused
        self._refresh_tokens = [refresh_token or secrets.token_hex(16)]    # valid ones, newest last
        self._access_tokens = {}             # token -> expiry (time.time())

    # ------------------------------------------------------------------ tokens
    @property
    def refresh_token(self):
        with self.lock:
            return self._refresh_tokens[-1]

    def issue_access_token(self, lifetime=None):
        token = secrets.token_hex(16)
        with self.lock:
            self._access_tokens[token] = time.time() + (self.token_lifetime if lifetime is None else lifetime)
        return token

    def expire_access_tokens(self):
        with self.lock:
            for token in self._access_tokens:
                self._access_tokens[token] = 0.0

    def token_valid(self, token):
        with self.lock:
            return self._access_tokens.get(token, 0.0) > time.time()

    def expire(self, token):
        with self.lock:
            if token in self._access_tokens:
                self._access_tokens[token] = 0.0

    # ------------------------------------------------------------------ the token endpoint
    def token_endpoint(self, query, headers, body):
        """POST /v2/oauth2/token: parameters from the query string and from the body if its
        Content-Type says form or JSON ("as long as the appropriate Content-Type header is
        included", says Help Scout's authentication page); client credentials may also come by
        HTTP Basic."""
        params = dict(query)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if body:
            if content_type == "application/x-www-form-urlencoded":
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            elif content_type == "application/json":
                try:
                    parsed = json.loads(body)
                except ValueError:
                    return oauth_error(400, "invalid_request", "Malformed JSON body")
                if not isinstance(parsed, dict):
                    return oauth_error(400, "invalid_request", "Malformed JSON body")
                params.update({k: str(v) for k, v in parsed.items()})
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return oauth_error(401, "invalid_client", "Bad client credentials")
            params.setdefault("client_id", user)
            params.setdefault("client_secret", password)
        grant = params.get("grant_type")
        if not grant:
            return oauth_error(400, "invalid_request", "Missing grant_type")
        if (params.get("client_id"), params.get("client_secret")) != (self.client_id, self.client_secret):
            # codes and strings for a bad client are UNCONFIRMED; standard OAuth2 answer
            return oauth_error(401, "invalid_client", "Bad client credentials")
        with self.lock:
            if grant == "refresh_token":
                if params.get("refresh_token") not in self._refresh_tokens:
                    # verbatim real answer, key order included (PHP SDK issue 291, docs/sources.md)
                    return Reply(400, INVALID_REFRESH, JSON)
                # rotation: the used token dies at once (no grace period: UNCONFIRMED, stricter)
                self._refresh_tokens.remove(params["refresh_token"])
                new_refresh = secrets.token_hex(16)
                self._refresh_tokens.append(new_refresh)
            elif grant == "authorization_code":
                code = params.get("code")
                if code == self.authorization_code:
                    self.authorization_code = secrets.token_hex(16)    # codes are single use
                elif code in self._codes:
                    self._codes.discard(code)
                else:
                    return oauth_error(400, "invalid_grant", "Invalid authorization code")
                new_refresh = secrets.token_hex(16)
                self._refresh_tokens.append(new_refresh)
            elif grant == "client_credentials":
                new_refresh = None
            else:
                return oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
            access = secrets.token_hex(16)
            self._access_tokens[access] = time.time() + self.token_lifetime
        answer = {"token_type": "bearer", "access_token": access, "expires_in": self.token_lifetime}
        if new_refresh:
            answer["refresh_token"] = new_refresh
        return Reply(200, dumps(answer), JSON)

    # ------------------------------------------------------------------ the authorization page
    def authorize_page(self, query):
        """GET /authentication/authorizeClientApplication?client_id=…&state=…[&redirect_uri=…]:
        the user "approves" at once. A known client gets a 302 to `redirect_uri` (the app's
        registered Redirection URL: the emulator's `redirect_uri` option unless the request
        names one) with `code` (fresh, single use) and `state` when one was sent (as Help Scout's
        authentication page describes). An unknown client gets a 400 HTML page, as a browser
        would show it."""
        if query.get("client_id") != self.client_id:
            page = ("<!DOCTYPE html><html><head><title>Help Scout</title></head><body><h1>Invalid request</h1>"
                    f"<p>Unknown application (client_id {html.escape(query.get('client_id', ''))!s}).</p>"
                    "</body></html>\n")
            return Reply(400, page.encode("utf-8"), "text/html; charset=UTF-8")
        code = secrets.token_hex(16)
        with self.lock:
            self._codes.add(code)
        target = query.get("redirect_uri") or self.redirect_uri
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        location = target + ("&" if "?" in target else "?") + urlencode(params)
        return Reply(302, b"", "text/html; charset=UTF-8", {"Location": location})
