"""`--authorize`: from a Help Scout app's `client_id` and `client_secret` to stored tokens, by the
OAuth2 authorization-code flow on a loopback listener (or a pasted address with `--no-browser`),
checked by a random `state`. docs/design/command-line.md tells how; docs/operations.md how to
use it.

Under Meltano (`meltano invoke <extractor> --authorize`) the config file is a temporary one that
Meltano deletes after the run: the tokens go to `token_store_path` only (without it the command
stops with one line), and the closing line names Meltano's commands for the extractor Meltano ran.
"""
import errno
import hmac
import html
import re
import secrets
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from tap_helpscout import logs
from tap_helpscout.api.mailbox import HelpScoutClient
from tap_helpscout.api.token_store import store_tokens
from tap_helpscout.config import meltano_extractor
from tap_helpscout.errors import AuthError, ConfigError, TapError
from tap_helpscout.logs import tell
from tap_helpscout.settings import DEFAULTS
from tap_helpscout.signals import leave_stop_signals_to_the_main_thread
from tap_helpscout.version import PROG

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8765
CALLBACK_PATH = "/callback"
WAIT_SECONDS = 300                      # how long the listener waits for the browser
HANDLER_TIMEOUT_SECONDS = 10            # an idle browser connection (a preconnect) is dropped
TOKEN_KEYS = ("refresh_token", "access_token")
# A bare code as Help Scout issues them (hex in every example); generous, but no spaces or URL.
BARE_CODE = re.compile(r"[A-Za-z0-9._~+/=-]{8,512}")


def redirect_url(port):
    """The Redirection URL the Help Scout app must have for `--port port`."""
    return f"http://{LOOPBACK}:{port}{CALLBACK_PATH}"


def authorization_url(config, state):
    base = config.get("authorize_url") or DEFAULTS["authorize_url"]
    return base + "?" + urlencode({"client_id": config["client_id"], "state": state})


def new_state():
    return secrets.token_urlsafe(24)


def check_port(port):
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise TapError(f"--port must be a port number from 1 to 65535 (got {port})")
    return port


# -- the answer: a callback on the loopback listener, or a pasted address ------------------------

class Answer:
    """What the browser brought back: a code, or Help Scout's refusal (`error`)."""

    def __init__(self, code=None, error=None):
        self.code, self.error = code, error


def same_state(given, expected):
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def _first(params, name):
    values = params.get(name)
    return values[0] if values else None


PAGE = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>tap-helpscout</title></head>"
        "<body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{text}</p></body></html>\n")


class Callbacks:
    """What the listener answers: requests with another state (or none) get an error page and
    the wait goes on; the first one with this run's state and a code (or Help Scout's `error`)
    is the answer, and ends the wait. No I/O here."""

    def __init__(self, state, out):
        self.state = state
        self.out = out
        self.answer = None
        self.done = threading.Event()
        self.lock = threading.Lock()

    def handle(self, target):
        """(status, title, text) of the page that answers a request for `target`."""
        parts = urlsplit(target)
        if parts.path != CALLBACK_PATH:
            return 404, "Not found", f"tap-helpscout waits for Help Scout on {CALLBACK_PATH} only."
        params = parse_qs(parts.query)
        with self.lock:
            if self.answer is not None:
                return 200, "Already answered", "tap-helpscout has its answer; you can close this tab."
            if not same_state(_first(params, "state"), self.state):
                tell(self.out, f"{PROG}: ignored a callback whose state does not match this run's; "
                               f"still waiting")
                return (400, "Not this authorization",
                        "This answer does not belong to the authorization that tap-helpscout is "
                        "waiting for (its state does not match), so it was ignored. Use the page "
                        "that the running tap-helpscout --authorize opened.")
            error, code = _first(params, "error"), _first(params, "code")
            if error:
                self.answer = Answer(error=error)
            elif code:
                self.answer = Answer(code=code)
            else:
                return 400, "No code", "This address carries no authorization code; tap-helpscout keeps waiting."
            self.done.set()
        if error:
            return 400, "Not authorized", "Help Scout did not authorize the app. You can close this tab."
        return 200, "tap-helpscout is authorized", "You can close this tab and go back to the terminal."

    def wait(self, seconds):
        """The Answer, or None when none came within `seconds`."""
        self.done.wait(seconds)
        return self.answer


class CallbackListener:
    """An HTTP server on 127.0.0.1:`port` answering with `callbacks`. It runs in a thread of its
    own, so that a browser command that blocks until it exits (`BROWSER=lynx`) still reaches
    it, and a browser's idle preconnection does not hold up the real request."""

    def __init__(self, port, callbacks):
        class Handler(BaseHTTPRequestHandler):
            timeout = HANDLER_TIMEOUT_SECONDS

            def do_GET(self):                      # noqa: N802 (http.server's name)
                status, title, text = callbacks.handle(self.path)
                body = PAGE.format(title=html.escape(title), text=html.escape(text)).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # noqa: A002 (the request line holds the code)
                pass

        try:
            self.server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        except OSError as exc:
            raise TapError(_bind_failure(port, exc)) from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self._serve, name="authorize-callback", daemon=True)
        self.thread.start()

    def _serve(self):
        leave_stop_signals_to_the_main_thread()       # and to the threads this one starts
        self.server.serve_forever()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _bind_failure(port, exc):
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {LOOPBACK} is already in use (another --authorize, or another "
                f"program): free it, or pass --port with a free port and give the Help Scout app "
                f"the Redirection URL {redirect_url('<that port>')}")
    if exc.errno == errno.EACCES:
        return (f"port {port} on {LOOPBACK} cannot be used without privileges: pass --port with "
                f"a port above 1023 and set the app's Redirection URL to match")
    return f"cannot listen on {LOOPBACK}:{port} ({exc.strerror or exc})"


def parse_pasted(text, state):
    """(code, warning or None) from what the user pasted: the address the browser ended on
    (its `state` must match), its query string, or a bare code (accepted with a warning)."""
    text = text.strip().strip("'\"<>")
    if not text:
        raise TapError("nothing was pasted; run --authorize again and paste the address your "
                       "browser was sent to")
    if "code=" in text or "error=" in text or "://" in text or "?" in text:
        query = urlsplit(text).query if ("://" in text or text.startswith("/")) else text.lstrip("?")
        params = parse_qs(query)
        error = _first(params, "error")
        given_state = _first(params, "state")
        if given_state is not None and not same_state(given_state, state):
            raise TapError("the pasted address carries another state than the authorization page "
                           "printed above: it belongs to another attempt (or was not made by Help "
                           "Scout). Open the address printed above and paste the one it leads to")
        if error:
            raise TapError(f"Help Scout did not authorize the app (error={_shown(error)}); run "
                           f"--authorize again and click Authorize")
        code = _first(params, "code")
        if not code:
            raise TapError("the pasted address holds no code=…: paste the whole address from the "
                           "browser's address bar after clicking Authorize")
        if given_state is None:
            return code, ("the pasted address has no state, so it cannot be checked against this "
                          "run; use it only if it comes from the page printed above")
        return code, None
    if BARE_CODE.fullmatch(text):
        return text, ("a bare code was pasted: its state cannot be checked against this run, so "
                      "use it only if it comes from the page printed above")
    raise TapError("what was pasted is neither an address with code=… nor a code; paste the whole "
                   "address from the browser's address bar")


def _shown(value):
    value = re.sub(r"[^\w .,:-]", "?", value)
    return value if len(value) <= 60 else value[:57] + "..."


# -- under Meltano ------------------------------------------------------------------------------------

def check_token_store(config, extractor):
    """Under Meltano the tokens must go to `token_store_path`: the config file is Meltano's
    temporary copy, deleted after the run."""
    if extractor and not config.get("token_store_path"):
        raise ConfigError(f'config: under Meltano, --authorize needs "token_store_path" (the config file '
                          f"is Meltano's temporary copy; tokens written there would be lost): set it, e.g. "
                          f"meltano config {extractor} set token_store_path "
                          f"'$MELTANO_PROJECT_ROOT/.meltano/{extractor}-token.json'")


def next_step(config_path, extractor):
    """The command to run after --authorize: the check, as the user runs the tap."""
    if extractor:
        return f"meltano invoke {extractor} --check"
    return f"{PROG} --config {config_path} --check"


# -- the flow ---------------------------------------------------------------------------------------

def authorize(config, config_path, port=DEFAULT_PORT, browser=True, stdin=None, out=None,
              wait_seconds=WAIT_SECONDS, environ=None):
    """Run the whole flow; returns the closing line, which names the authorized user and the
    next command. Raises TapError for anything the user must fix (one line). `environ` (default
    os.environ) tells whether Meltano runs the tap."""
    stdin = stdin or sys.stdin
    out = out or sys.stderr
    extractor = meltano_extractor(environ)
    if not (config.get("client_id") and config.get("client_secret")):
        raise ConfigError('config: --authorize needs "client_id" and "client_secret" (the App ID and '
                          "App Secret of your app under Help Scout > Your Profile > My Apps)")
    check_token_store(config, extractor)
    port = check_port(port)
    state = new_state()
    url = authorization_url(config, state)

    def say(line):
        tell(out, line)

    if browser:
        say(f"The Help Scout app must have this Redirection URL: {redirect_url(port)}")
        say("  (Help Scout > Your Profile > My Apps > your app; if Help Scout does not accept it, "
            "use --no-browser, see docs/operations.md)")
        callbacks = Callbacks(state, out)
        listener = CallbackListener(port, callbacks)
        try:
            say(f"Listening on {redirect_url(port)}; opening Help Scout's authorization page. If no "
                f"browser opens, open this address yourself:")
            say(f"  {url}")
            say(f"Click Authorize in the browser; waiting up to {_minutes(wait_seconds)}...")
            try:
                webbrowser.open(url)
            except webbrowser.Error:
                pass                                # the address is printed above
            answer = callbacks.wait(wait_seconds)
        finally:
            listener.close()
        if answer is None:
            raise TapError(f"no answer from the browser within {_minutes(wait_seconds)} (is "
                           f"{redirect_url(port)} the app's Redirection URL?); run --authorize "
                           f"again, or use --no-browser and paste the address")
        if answer.error:
            raise TapError(f"Help Scout did not authorize the app (error={_shown(answer.error)}); "
                           f"run --authorize again and click Authorize")
        code = answer.code
    else:
        say(f"The browser is sent to the Help Scout app's Redirection URL, such as {redirect_url(port)}: "
            f"any address works, nothing needs to answer there.")
        say("Open this address in a browser where you are logged in to Help Scout and click Authorize:")
        say(f"  {url}")
        say("The browser then lands on the Redirection URL (a page that does not load is fine).")
        say("Paste the address from its address bar here (or only its code) and press Enter:")
        line = stdin.readline()
        if not line.strip():
            raise TapError("nothing was pasted (standard input ended); run --authorize again")
        code, warning = parse_pasted(line, state)
        if warning:
            say(f"{PROG}: warning: {warning}")

    refresh_token, access_token = exchange(config, code)
    store_tokens(config, config_path, refresh_token, access_token)
    say(f"Tokens stored in {config.get('token_store_path') or config_path}.")
    user = authorized_user(config, access_token)
    return f"Authorized as {describe_user(user)}. Next: {next_step(config_path, extractor)}"


def _minutes(seconds):
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} s"


def _client(config):
    client = HelpScoutClient(config)
    # The client's per-request METRIC lines would bury the few lines this command prints.
    logs.only_warnings()
    return client


def exchange(config, code):
    """(refresh_token, access_token) for `code`, from the token endpoint under base_url."""
    client = _client(app_only(config))
    try:
        answer = client.post_token({"grant_type": "authorization_code", "code": code,
                                    "client_id": config["client_id"],
                                    "client_secret": config["client_secret"]})
    except AuthError as exc:
        if exc.status == 400 and "client_id/client_secret" not in str(exc):
            detail = re.search(r"HTTP \d+ \((.*)\):", str(exc))
            raise TapError(f"Help Scout refused the authorization code (HTTP 400"
                           f"{': ' + detail.group(1) if detail else ''}): a code is short-lived "
                           f"and works once; run --authorize again") from None
        raise
    finally:
        client.close()
    refresh_token, access_token = (answer.get(key) if isinstance(answer.get(key), str) and answer.get(key)
                                   else None for key in TOKEN_KEYS)
    if refresh_token is None:
        raise TapError("Help Scout's token endpoint accepted the code but sent no refresh token; "
                       "run --authorize again")
    return refresh_token, access_token


def authorized_user(config, access_token):
    """The `/users/me` answer for the new access token, used as is: nothing is renewed, so
    nothing rotates before a sync uses the tokens just stored."""
    if not access_token:
        return None
    client = _client({**app_only(config, keep_app=False), "access_token": access_token})
    try:
        me = client.get("/users/me", endpoint="users/me").json
    except AuthError:
        raise TapError("the tokens are stored, but Help Scout refused the new access token on "
                       "/users/me: the authorizing user may be inactive; authorize as an active "
                       "user (run --authorize again)") from None
    finally:
        client.close()
    return me if isinstance(me, dict) else None


def app_only(config, keep_app=True):
    """The config for a client that must not touch stored tokens: no tokens, no token store
    (and no app credentials unless `keep_app`)."""
    dropped = TOKEN_KEYS + ("token_store_path",) + (() if keep_app else ("client_id", "client_secret"))
    return {key: value for key, value in config.items() if key not in dropped and value is not None}


def describe_user(user):
    """`First Last <email> (user 123)`, from a /users/me answer."""
    if not isinstance(user, dict):
        return "a user /users/me did not describe"
    name = " ".join(str(user[k]) for k in ("firstName", "lastName") if user.get(k))
    email = user.get("email")
    text = name or str(email or "an unnamed user")
    if email and name:
        text += f" <{email}>"
    if user.get("id") is not None:
        text += f" (user {user['id']})"
    return text
