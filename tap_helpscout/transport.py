"""The wire under `client.HelpScoutClient`: HTTP/1.1 keep-alive connections to the one API host,
made with the standard library's `http.client`.

Why not requests: the client talks to a single host, follows no redirects, keeps no cookies and
needs no auth plug-ins, yet requests spent about 1.0 ms of CPU per request here against 0.33 ms
for `http.client` (a quarter of the tap's CPU in `make bench`). What requests would have added
that the tap needs is kept, read once when the transport is made:
- the proxy from `HTTPS_PROXY` / `https_proxy`, minus `NO_PROXY` (an `http://` proxy, reached
  with CONNECT; credentials in the proxy URL are sent as Basic proxy authorization);
- the CA bundle: `REQUESTS_CA_BUNDLE` or `CURL_CA_BUNDLE` when set, else certifi's, else the
  system's;
- gzip and deflate bodies, which the API may send to save bandwidth.
Loopback hosts (tests, emulators) are never proxied.
"""
import base64
import http.client
import ipaddress
import os
import select
import socket
import ssl
import threading
import zlib
from urllib.parse import unquote, urlencode, urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

ACCEPT_ENCODING = "gzip, deflate"


class TransportError(Exception):
    """No complete answer arrived. `description` says what happened, in words (never the URL's
    query or a header); `may_have_reached_server` is false when the request never left (no
    connection could be made), which matters for requests that change state on the server."""

    def __init__(self, description, may_have_reached_server=True):
        super().__init__(description)
        self.description = description
        self.may_have_reached_server = may_have_reached_server


class Headers(dict):
    """Response headers, looked up by name in any case. A header sent twice keeps its last
    value (none of the headers the tap reads is repeated)."""

    def __init__(self, pairs=()):
        super().__init__((name.lower(), value) for name, value in pairs)

    def __getitem__(self, name):
        return dict.__getitem__(self, name.lower())

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)

    def __contains__(self, name):
        return dict.__contains__(self, name.lower())


class Answer:
    """A complete HTTP answer, whatever its status (the client attaches what it makes of it)."""

    def __init__(self, status, reason, headers, body, url):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.url = url

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ca_bundle():
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        import certifi           # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return certifi.where()


class Transport:
    """Sends requests to the origin of `base_url` over a small pool of keep-alive connections.
    Thread-safe: each connection serves one request at a time; at most `pool_size` idle ones
    are kept."""

    def __init__(self, base_url, connect_timeout, read_timeout, pool_size):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_size = max(1, pool_size)
        self._idle = []
        self._lock = threading.Lock()
        self._closed = False
        self._tls = self._tls_context() if self.scheme == "https" else None
        self._proxy = self._proxy_from_environment()

    # -- sending -----------------------------------------------------------------------------

    def request(self, method, url, params=None, form=None, headers=None):
        """Send one request (no retry) and return its `Answer`; raise `TransportError` when no
        complete answer arrived. `url` is on this transport's origin; `params` become its query,
        `form` an urlencoded body."""
        target = self._target(url, params)
        headers = dict(headers or {})
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = self._checkout()
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (socket.timeout, TimeoutError) as exc:
            connection.close()
            raise TransportError(f"no data for {self.read_timeout:g} s (read timeout)") from exc
        except http.client.IncompleteRead as exc:
            connection.close()
            raise TransportError("the answer was cut short") from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise TransportError(f"connection failed ({type(exc).__name__})") from exc
        except BaseException:
            connection.close()
            raise
        answer_headers = Headers(response.getheaders())
        if response.will_close:
            connection.close()
        else:
            self._checkin(connection)
        encoding = answer_headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate") and raw:
            raw = _decompress(raw, encoding)
        return Answer(response.status, response.reason, answer_headers, raw,
                      self.origin + target)

    def close(self):
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- connections -------------------------------------------------------------------------

    def _target(self, url, params):
        if not url.startswith(self.origin + "/"):
            raise ValueError("a request for another origin than the API's")
        target = url[len(self.origin):]
        query = urlencode([(k, v) for k, v in (params or {}).items() if v is not None])
        if query:
            target += ("&" if "?" in target else "?") + query
        return target

    def _checkout(self):
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._connect()
            if not _dropped(connection):
                return connection
            connection.close()

    def _checkin(self, connection):
        with self._lock:
            if not self._closed and len(self._idle) < self.pool_size:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self):
        if self._proxy is not None:
            proxy_host, proxy_port, proxy_headers = self._proxy
            connection = http.client.HTTPSConnection(proxy_host, proxy_port,
                                                     timeout=self.connect_timeout,
                                                     context=self._tls)
            connection.set_tunnel(self.host, self.port, headers=proxy_headers)
        elif self._tls is not None:
            connection = http.client.HTTPSConnection(self.host, self.port,
                                                     timeout=self.connect_timeout,
                                                     context=self._tls)
        else:
            connection = http.client.HTTPConnection(self.host, self.port,
                                                    timeout=self.connect_timeout)
        try:
            connection.connect()
        except (socket.timeout, TimeoutError) as exc:
            connection.close()
            raise TransportError(f"no connection within {self.connect_timeout:g} s",
                                 may_have_reached_server=False) from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise TransportError(f"connection failed ({_reason(exc)})",
                                 may_have_reached_server=False) from exc
        # Connecting had its own (short) limit; from now on the read timeout applies.
        connection.sock.settimeout(self.read_timeout)
        return connection

    # -- environment -------------------------------------------------------------------------

    @staticmethod
    def _tls_context():
        context = ssl.create_default_context(cafile=_ca_bundle())
        context.set_alpn_protocols(["http/1.1"])
        return context

    def _proxy_from_environment(self):
        """(host, port, CONNECT headers) of the proxy to tunnel through, or None."""
        if self.scheme != "https" or is_loopback(self.host):
            return None
        proxies = getproxies_environment()
        proxy_url = proxies.get("https")
        if not proxy_url or proxy_bypass_environment(self.host, proxies):
            return None
        if "://" not in proxy_url:
            proxy_url = "http://" + proxy_url
        proxy = urlsplit(proxy_url)
        if proxy.scheme != "http" or not proxy.hostname:
            raise ValueError(f"HTTPS_PROXY must be an http:// proxy URL (host and port), "
                             f"not {proxy.scheme}://")
        headers = {}
        if proxy.username is not None:
            credentials = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(
                credentials.encode()).decode()
        return proxy.hostname, proxy.port or 80, headers


def _dropped(connection):
    """Whether an idle keep-alive connection was closed by the server (it is then readable:
    end of file), so that a request is not sent into a dead socket."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _decompress(raw, encoding):
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS)
    try:
        body = decoder.decompress(raw) + decoder.flush()
    except zlib.error:
        if encoding != "deflate":
            raise TransportError("the answer could not be decoded (cut short?)") from None
        # Some servers send raw deflate without the zlib header.
        try:
            return zlib.decompress(raw, -zlib.MAX_WBITS)
        except zlib.error:
            raise TransportError("the answer could not be decoded (cut short?)") from None
    if not decoder.eof:
        raise TransportError("the answer could not be decoded (cut short?)")
    return body


def _reason(exc):
    """The innermost cause's type name: what failed, without addresses or URLs."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return type(exc).__name__
