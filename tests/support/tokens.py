"""Fakes for the token tests: a clock, and a token endpoint that answers TokenManager the way
Help Scout does (rotating refresh tokens), with config files for them."""
import json
import os
import threading

from tap_helpscout.api.auth import TokenAnswer, TokenManager
from tap_helpscout.redact import Redactor
from tests.support.fake_clock import FakeClock


class TokenEndpoint:
    """Rotates refresh tokens like Help Scout; `answers` overrides the next answers."""

    def __init__(self, refresh_token="rt-0", expires_in=172800):
        self.refresh_token = refresh_token
        self.expires_in = expires_in
        self.forms = []
        self.answers = []
        self.lock = threading.Lock()
        self.on_post = None

    def __call__(self, form):
        with self.lock:
            self.forms.append(dict(form))
            if self.on_post:
                self.on_post(form)
            if self.answers:
                return self.answers.pop(0)
            if form["grant_type"] == "refresh_token" and form["refresh_token"] != self.refresh_token:
                return TokenAnswer(400, {"error": "invalid_request", "error_description": "Invalid refresh_token"})
            number = len(self.forms)
            body = {"access_token": f"at-{number}", "expires_in": self.expires_in}
            if form["grant_type"] == "refresh_token":
                self.refresh_token = body["refresh_token"] = f"rt-{number}"
            return TokenAnswer(200, body)


def config_file(tmp_path, **keys):
    config = {"client_id": "app-id", "client_secret": "app-secret", "refresh_token": "rt-0",
              "start_date": "2024-01-01T00:00:00Z", **keys}
    config = {k: v for k, v in config.items() if v is not None}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    os.chmod(path, 0o600)
    return path


def manager(path, endpoint, clock=None, **overrides):
    config = {**json.loads(path.read_text()), **overrides}
    return TokenManager(config, str(path), endpoint, Redactor(), clock=clock or FakeClock())

