"""HTTP as requests does it for the client (tap_helpscout/api/client.py, api/wire.py), against a raw-socket
server that answers with exactly the bytes a test scripts: keep-alive, compressed and chunked
bodies, answers cut short, connections the server closes, TLS with a CA bundle from the
environment, and an HTTPS proxy from the environment.
"""
import gzip
import json
import socket
import threading
import zlib

import pytest

import tap_helpscout.api.client as http_module
from tap_helpscout.errors import ApiUnreachable, MalformedAnswer
from tap_helpscout.api.mailbox import HelpScoutClient
from tap_helpscout.logs import configure_logging
from tap_helpscout.redact import Redactor
from tests.support.loopback import LoopbackServer, read_head, read_request

pytestmark = pytest.mark.timeout(30)


class RawServer(LoopbackServer):
    """Reads one request at a time from each connection and answers with the next scripted
    bytes; None closes the connection instead, and `(bytes, "close")` answers then closes it.
    Counts connections; `closed` is set whenever the server closes one."""

    def __init__(self, answers, tls=None):
        self.answers = list(answers)
        self.tls = tls                  # an ssl.SSLContext: serve HTTPS
        self.requests = []
        self.closed = threading.Event()
        super().__init__(backlog=8)

    def handle(self, conn):
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.exchange(conn)
        except OSError:                 # a client that refused our certificate, or left
            pass
        finally:
            conn.close()
            self.closed.set()

    def exchange(self, conn):
        buffered = b""
        while (request := read_request(conn, buffered)) is not None:
            head, _, body, buffered = request
            with self.lock:
                self.requests.append((head, body))
                answer = self.answers.pop(0) if self.answers else None
            if answer is None:
                return
            close = isinstance(answer, tuple)
            answer = answer[0] if close else answer
            conn.sendall(answer)
            if close or b"Connection: close" in answer.split(b"\r\n\r\n")[0]:
                return


def answer(body, status="200 OK", headers=()):
    head = [f"HTTP/1.1 {status}", "Content-Type: application/hal+json",
            f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def json_answer(value, **kwargs):
    return answer(json.dumps(value).encode(), **kwargs)


@pytest.fixture
def serve():
    servers = []

    def start(*answers):
        server = RawServer(answers)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(http_module, "BACKOFF_FACTOR_SECONDS", 0.001)


@pytest.fixture
def no_proxy_environment(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
                 "ALL_PROXY", "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def client_for(base_url, **config):
    configure_logging()      # as the command line does first: log lines go to the stderr of the moment
    return HelpScoutClient({"access_token": "static-token-1234", "base_url": base_url, **config},
                           redactor=Redactor())


def test_keep_alive_connections_are_reused(serve):
    server = serve(*[json_answer({"n": n}) for n in range(3)])
    client = client_for(server.base_url)
    assert [client.get("/users").json["n"] for _ in range(3)] == [0, 1, 2]
    assert server.connections == 1


def test_query_parameters_are_url_encoded_and_none_is_left_out(serve):
    server = serve(json_answer({}))
    client_for(server.base_url).get("/conversations", {"query": "(email:a+b@example.com)",
                                                       "page": 2, "tag": None})
    request_line = server.requests[0][0].split("\r\n")[0]
    assert request_line == ("GET /v2/conversations?query=%28email%3Aa%2Bb%40example.com%29&page=2 "
                            "HTTP/1.1")


def test_gzip_and_deflate_bodies_are_decoded(serve):
    body = {"ok": True, "padding": "x" * 5000}
    raw = json.dumps(body).encode()
    server = serve(answer(gzip.compress(raw), headers=["Content-Encoding: gzip"]),
                   answer(zlib.compress(raw), headers=["Content-Encoding: deflate"]))
    client = client_for(server.base_url)
    assert client.get("/users").json == body and client.get("/users").json == body
    assert "gzip" in server.requests[0][0].lower()


def test_a_cut_gzip_body_is_retried_then_a_malformed_answer(serve):
    compressed = gzip.compress(json.dumps({"padding": "y" * 5000}).encode())
    cut = (answer(compressed[: len(compressed) // 2], headers=["Content-Encoding: gzip"]), "close")
    server = serve(*[cut] * http_module.MAX_TRIES)
    with pytest.raises(MalformedAnswer, match="still after 8 tries"):
        client_for(server.base_url).get("/users", endpoint="users")
    assert len(server.requests) == http_module.MAX_TRIES


def test_a_connection_that_carried_an_unreadable_answer_is_not_reused(serve):
    # The server keeps the connection open after the broken body: the retry still opens a new
    # one (a server that broke an answer off may be closing its end; a request sent on it would
    # be lost to a reset and cost a try).
    server = serve(answer(b'{"cut": '), json_answer({"ok": 1}), json_answer({"ok": 2}))
    client = client_for(server.base_url)
    assert client.get("/users").json == {"ok": 1}
    assert client.get("/users").json == {"ok": 2}
    assert server.connections == 2 and len(server.requests) == 3


def test_chunked_bodies_are_read_whole(serve):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n"
                      for part in (b'{"results": [1, ', b'2, 3]}')) + b"0\r\n\r\n"
    server = serve(head + chunks)
    assert client_for(server.base_url).get("/r").json == {"results": [1, 2, 3]}


def test_a_body_shorter_than_its_length_is_retried(serve):
    full = json_answer({"padding": "z" * 500})
    server = serve((full[: len(full) - 100], "close"), json_answer({"ok": 1}))
    assert client_for(server.base_url).get("/users").json == {"ok": 1}
    assert server.connections == 2


def test_connection_close_is_honoured_and_the_next_request_opens_a_new_connection(serve):
    server = serve(json_answer({"n": 1}, headers=["Connection: close"]), json_answer({"n": 2}))
    client = client_for(server.base_url)
    client.get("/a")
    assert client.get("/b").json == {"n": 2}
    assert server.connections == 2


def test_an_idle_connection_closed_by_the_server_costs_no_failure(serve):
    server = serve((json_answer({"n": 1}), "close"), json_answer({"n": 2}))
    client = client_for(server.base_url)
    client.get("/a")
    assert server.closed.wait(5)
    assert client.get("/b").json == {"n": 2}
    assert client.stats.retries == 0


def test_a_form_is_posted_urlencoded_without_authorization(serve):
    server = serve(json_answer({"access_token": "new-access-token", "expires_in": 60}),
                   json_answer({"ok": 1}))
    client = HelpScoutClient({"client_id": "app", "client_secret": "the-secret",
                              "base_url": server.base_url}, redactor=Redactor())
    client.get("/users")
    head, body = server.requests[0]
    assert head.startswith("POST /v2/oauth2/token ")
    assert "content-type: application/x-www-form-urlencoded" in head.lower()
    assert "authorization" not in head.lower()
    assert body == b"grant_type=client_credentials&client_id=app&client_secret=the-secret"
    assert "Authorization: Bearer new-access-token" in server.requests[1][0]


# -- TLS, as against the real API ----------------------------------------------------------------

@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for `localhost`."""
    import shutil
    import ssl
    import subprocess
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = RawServer([json_answer({"secure": True}), json_answer({"again": True})], tls=context)
    yield server, cert
    server.close()


def test_https_verifies_the_server_against_a_ca_bundle_from_the_environment(
        tls_server, no_proxy_environment):
    server, cert = tls_server
    port = server.sock.getsockname()[1]
    no_proxy_environment.setenv("REQUESTS_CA_BUNDLE", str(cert))
    client = client_for(f"https://localhost:{port}/v2")
    assert client.get("/users").json == {"secure": True}
    assert client.get("/users").json == {"again": True}
    assert server.connections == 1, "the TLS connection is kept alive"


def test_https_refuses_a_server_it_cannot_verify_at_once(tls_server, no_proxy_environment):
    server, _ = tls_server
    port = server.sock.getsockname()[1]
    with pytest.raises(ApiUnreachable) as raised:
        client_for(f"https://localhost:{port}/v2").get("/users", endpoint="users")
    message = str(raised.value)
    assert "TLS: certificate verify failed" in message and f"localhost:{port}" in message
    assert "tries" not in message, "not retried: it cannot get better"


class ConnectProxy(LoopbackServer):
    """An HTTP proxy on 127.0.0.1 that tunnels CONNECT requests and records them."""

    def __init__(self):
        self.connects = []
        super().__init__(backlog=4)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def handle(self, conn):
        read = read_head(conn)
        if read is None:
            return
        line = read[0].split(b"\r\n")[0].decode()
        self.connects.append(line)
        host, port = line.split()[1].rsplit(":", 1)
        upstream = socket.create_connection(("127.0.0.1", int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for source, sink in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def pump(source, sink):
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_https_proxy_from_the_environment_tunnels_the_requests(tls_server, no_proxy_environment):
    server, cert = tls_server
    port = server.sock.getsockname()[1]
    proxy = ConnectProxy()
    try:
        no_proxy_environment.setenv("HTTPS_PROXY", proxy.url)
        no_proxy_environment.setenv("REQUESTS_CA_BUNDLE", str(cert))
        assert client_for(f"https://localhost:{port}/v2").get("/users").json == {"secure": True}
        assert [line.rsplit(" ", 1)[0] for line in proxy.connects] == [f"CONNECT localhost:{port}"]
    finally:
        proxy.close()


def test_no_proxy_spares_the_api_host(tls_server, no_proxy_environment):
    server, cert = tls_server
    port = server.sock.getsockname()[1]
    proxy = ConnectProxy()
    try:
        no_proxy_environment.setenv("HTTPS_PROXY", proxy.url)
        no_proxy_environment.setenv("NO_PROXY", "localhost")
        no_proxy_environment.setenv("REQUESTS_CA_BUNDLE", str(cert))
        assert client_for(f"https://localhost:{port}/v2").get("/users").json == {"secure": True}
        assert proxy.connects == []
    finally:
        proxy.close()
