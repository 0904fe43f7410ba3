"""--authorize under Meltano, and the hint to authorize again, in process and without sockets (the code exchange and /users/me are
stood in for): Meltano is recognized by the variables it sets for the extractors it runs, the
tokens go to `token_store_path` and never into Meltano's temporary config file, no store is one
clear line, and the closing line names `meltano invoke <the extractor Meltano ran> --check`.
tests/e2e/test_meltano_accounts.py runs the same under the real Meltano."""
import io
import json

import pytest

from tap_helpscout.api.auth import TokenAnswer, refusal
from tap_helpscout.cli import authorize as auth
from tap_helpscout.errors import ConfigError
from tap_helpscout.redact import Redactor

# What Meltano 4.4.1 sets, among others, for `meltano invoke tap-helpscout-acme` (an extractor
# with `inherit_from: tap-helpscout`).
MELTANO = {"MELTANO_PROJECT_ROOT": "/srv/project", "MELTANO_EXTRACTOR_NAME": "tap-helpscout-acme",
           "MELTANO_EXTRACTOR_NAMESPACE": "tap_helpscout_acme", "MELTANO_ENVIRONMENT": "dev"}
APP = {"client_id": "app-id", "client_secret": "app-secret-never-shown"}
CODE = "a0b1c2d3e4f5a6b7"       # a bare code, as --no-browser accepts it


@pytest.mark.parametrize("environ, expected", [
    (MELTANO, "tap-helpscout-acme"),
    ({**MELTANO, "MELTANO_EXTRACTOR_NAME": "tap-helpscout"}, "tap-helpscout"),
    ({}, None),
    ({"MELTANO_PROJECT_ROOT": "/srv/project"}, None),          # a shell inside a project
    ({"MELTANO_EXTRACTOR_NAME": "tap-helpscout-acme"}, None),  # not Meltano's whole set
    ({**MELTANO, "MELTANO_EXTRACTOR_NAME": " "}, None),
])
def test_meltano_is_recognized_by_the_variables_it_sets_for_an_extractor(environ, expected):
    assert auth.meltano_extractor(environ) == expected


@pytest.fixture
def flow(monkeypatch, tmp_path):
    """Runs authorize() with --no-browser and a pasted bare code; the exchange and /users/me
    are stood in for. Returns (closing line, stderr text)."""
    monkeypatch.setattr(auth, "exchange", lambda config, code: ("new-refresh-never-shown", "new-access-never-shown"))
    monkeypatch.setattr(auth, "authorized_user", lambda config, token: {"id": 7, "firstName": "Jane",
                                                                        "lastName": "Doe", "email": "j@x.test"})

    def run(config, config_path, environ):
        out = io.StringIO()
        line = auth.authorize(config, str(config_path), browser=False, stdin=io.StringIO(CODE + "\n"),
                              out=out, environ=environ)
        return line, out.getvalue()
    return run


def meltano_config_file(tmp_path, config):
    """Meltano's temporary config file, where it writes one for every command."""
    path = tmp_path / ".meltano" / "run" / "tap-helpscout-acme" / "tap.0190-uuid.config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(config))
    return path


def test_under_meltano_the_tokens_go_to_the_store_and_the_next_step_is_meltanos(flow, tmp_path):
    store = tmp_path / ".meltano" / "tap-helpscout-acme-token.json"
    config = {**APP, "token_store_path": str(store)}
    path = meltano_config_file(tmp_path, config)
    before = path.read_text()
    line, said = flow(config, path, MELTANO)
    assert line == "Authorized as Jane Doe <j@x.test> (user 7). Next: meltano invoke tap-helpscout-acme --check"
    assert f"Tokens stored in {store}." in said
    assert path.read_text() == before, "Meltano's temporary config file is left alone"
    assert json.loads(store.read_text())["refresh_token"] == "new-refresh-never-shown"
    assert "run/" not in line and "--config" not in line


def test_under_meltano_without_a_token_store_it_stops_with_one_line_before_anything(flow, tmp_path):
    path = meltano_config_file(tmp_path, dict(APP))
    before = path.read_text()
    with pytest.raises(ConfigError) as refused:
        flow(dict(APP), path, MELTANO)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith('config: under Meltano, --authorize needs "token_store_path"')
    assert ("meltano config tap-helpscout-acme set token_store_path "
            "'$MELTANO_PROJECT_ROOT/.meltano/tap-helpscout-acme-token.json'") in message
    assert path.read_text() == before


def test_outside_meltano_the_config_file_gets_the_tokens_and_the_next_step_names_it(flow, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(APP))
    line, _ = flow(dict(APP), path, {})
    assert line.endswith(f"Next: tap-helpscout --config {path} --check")
    assert json.loads(path.read_text())["refresh_token"] == "new-refresh-never-shown"


def test_the_app_credentials_are_still_asked_for_first_under_meltano(flow, tmp_path):
    with pytest.raises(ConfigError, match='needs "client_id" and "client_secret"'):
        flow({}, meltano_config_file(tmp_path, {}), MELTANO)


def test_a_rejected_refresh_token_names_the_command_that_authorizes_again_as_the_user_runs_the_tap(monkeypatch):
    rejected = TokenAnswer(400, {"error": "invalid_grant"})
    for name in ("MELTANO_PROJECT_ROOT", "MELTANO_EXTRACTOR_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert "authorize the app again: tap-helpscout --config CONFIG --authorize" in \
        str(refusal(rejected, "refresh_token", Redactor()))
    for name, value in MELTANO.items():
        monkeypatch.setenv(name, value)
    message = str(refusal(rejected, "refresh_token", Redactor()))
    assert "authorize the app again: meltano invoke tap-helpscout-acme --authorize" in message
    assert "--config CONFIG" not in message        # Meltano's config file is a temporary copy
