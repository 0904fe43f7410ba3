"""The wire under the client (tap_helpscout/transport.py), against a raw-socket server that
answers with exactly the bytes a test scripts: compressed and chunked bodies, answers cut
short, connections the server closes, and the proxy and CA settings read from the environment.
"""
import gzip
import json
import socket
import threading
import zlib

import pytest

from tap_helpscout import transport as transport_module
from tap_helpscout.client import HelpScoutClient
from tap_helpscout.errors import ConfigError
from tap_helpscout.transport import Transport, TransportError

pytestmark = pytest.mark.timeout(30)


class RawServer:
    """Reads one request at a time from each connection and answers with the next scripted
    bytes; None closes the connection instead, and `(bytes, "close")` answers then closes it.
    Counts connections; `closed` is set whenever the server closes one."""

    def __init__(self, answers, tls=None):
        self.answers = list(answers)
        self.tls = tls                  # an ssl.SSLContext: serve HTTPS
        self.connections = 0
        self.requests = []
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v2"

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

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
        if True:
            while True:
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffered) < length:
                    buffered += conn.recv(65536)
                body, buffered = buffered[:length], buffered[length:]
                with self.lock:
                    self.requests.append((head.decode(), body))
                    answer = self.answers.pop(0) if self.answers else None
                if answer is None:
                    return
                close = isinstance(answer, tuple)
                answer = answer[0] if close else answer
                conn.sendall(answer)
                if close or b"Connection: close" in answer.split(b"\r\n\r\n")[0]:
                    return

    def close(self):
        self.sock.close()


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


def transport_for(server, read_timeout=5.0):
    return Transport(server.base_url, connect_timeout=2.0, read_timeout=read_timeout, pool_size=2)


def test_keep_alive_connections_are_reused(serve):
    server = serve(*[json_answer({"n": n}) for n in range(3)])
    wire = transport_for(server)
    assert [json.loads(wire.request("GET", server.base_url + "/users").body)["n"]
            for _ in range(3)] == [0, 1, 2]
    assert server.connections == 1


def test_query_parameters_are_url_encoded_and_none_is_left_out(serve):
    server = serve(json_answer({}))
    wire = transport_for(server)
    wire.request("GET", server.base_url + "/conversations",
                 params={"query": "(email:a+b@example.com)", "page": 2, "tag": None})
    request_line = server.requests[0][0].split("\r\n")[0]
    assert request_line == ("GET /v2/conversations?query=%28email%3Aa%2Bb%40example.com%29&page=2 "
                            "HTTP/1.1")


def test_gzip_and_deflate_bodies_are_decoded(serve):
    body = json.dumps({"ok": True, "padding": "x" * 5000}).encode()
    server = serve(answer(gzip.compress(body), headers=["Content-Encoding: gzip"]),
                   answer(zlib.compress(body), headers=["Content-Encoding: deflate"]))
    wire = transport_for(server)
    assert wire.request("GET", server.base_url + "/users").body == body
    assert wire.request("GET", server.base_url + "/users").body == body
    assert "Accept-Encoding: gzip, deflate" in server.requests[0][0]


def test_a_cut_gzip_body_is_a_transport_error(serve):
    compressed = gzip.compress(json.dumps({"padding": "y" * 5000}).encode())
    server = serve(answer(compressed[: len(compressed) // 2], headers=["Content-Encoding: gzip"]))
    with pytest.raises(TransportError, match="could not be decoded"):
        transport_for(server).request("GET", server.base_url + "/users")


def test_chunked_bodies_are_read_whole(serve):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n"
                      for part in (b'{"results": [1, ', b'2, 3]}')) + b"0\r\n\r\n"
    server = serve(head + chunks)
    assert json.loads(transport_for(server).request("GET", server.base_url + "/r").body) == \
        {"results": [1, 2, 3]}


def test_a_body_shorter_than_its_length_is_a_transport_error(serve):
    full = json_answer({"padding": "z" * 500})
    server = serve((full[: len(full) - 100], "close"))
    with pytest.raises(TransportError, match="cut short") as raised:
        transport_for(server).request("GET", server.base_url + "/users")
    assert raised.value.may_have_reached_server


def test_connection_close_is_honoured_and_the_next_request_opens_a_new_connection(serve):
    server = serve(json_answer({"n": 1}, headers=["Connection: close"]), json_answer({"n": 2}))
    wire = transport_for(server)
    wire.request("GET", server.base_url + "/a")
    assert json.loads(wire.request("GET", server.base_url + "/b").body) == {"n": 2}
    assert server.connections == 2


def test_an_idle_connection_closed_by_the_server_is_not_reused(serve):
    # Servers close keep-alive connections that stay idle; the next request must not be sent
    # into the dead socket (it would fail and cost a retry).
    server = serve((json_answer({"n": 1}), "close"), json_answer({"n": 2}))
    wire = transport_for(server)
    wire.request("GET", server.base_url + "/a")
    assert server.closed.wait(5)
    assert json.loads(wire.request("GET", server.base_url + "/b").body) == {"n": 2}
    assert server.connections == 2


def test_a_refused_connection_never_reached_the_server():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    wire = Transport(f"http://127.0.0.1:{port}/v2", connect_timeout=1, read_timeout=1, pool_size=1)
    with pytest.raises(TransportError) as raised:
        wire.request("GET", f"http://127.0.0.1:{port}/v2/users")
    assert raised.value.may_have_reached_server is False
    assert "ConnectionRefusedError" in raised.value.description


def test_a_form_is_posted_urlencoded(serve):
    server = serve(json_answer({"access_token": "t"}))
    transport_for(server).request("POST", server.base_url + "/oauth2/token",
                                  form={"grant_type": "refresh_token", "refresh_token": "a+b/c="})
    head, body = server.requests[0]
    assert "Content-Type: application/x-www-form-urlencoded" in head
    assert body == b"grant_type=refresh_token&refresh_token=a%2Bb%2Fc%3D"


def test_requests_to_another_origin_are_refused(serve):
    server = serve()
    with pytest.raises(ValueError):
        transport_for(server).request("GET", "http://127.0.0.2:1/v2/users")


def test_response_headers_are_looked_up_in_any_case(serve):
    server = serve(json_answer({}, headers=["X-RateLimit-Remaining-Minute: 7"]))
    headers = transport_for(server).request("GET", server.base_url + "/users").headers
    assert headers["x-ratelimit-remaining-minute"] == "7"
    assert headers.get("X-RATELIMIT-REMAINING-MINUTE") == "7"
    assert "X-RateLimit-Remaining-Minute" in headers and headers.get("Retry-After") is None


# -- the environment ---------------------------------------------------------------------------

@pytest.fixture
def no_proxy_environment(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
                 "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_https_proxy_from_the_environment_is_used_with_its_credentials(no_proxy_environment):
    no_proxy_environment.setenv("HTTPS_PROXY", "http://etl%40corp:s3cret@proxy.corp.example:3128")
    wire = Transport("https://api.helpscout.net/v2", 1, 1, 1)
    host, port, headers = wire._proxy
    assert (host, port) == ("proxy.corp.example", 3128)
    assert headers["Proxy-Authorization"] == "Basic ZXRsQGNvcnA6czNjcmV0"   # etl@corp:s3cret


def test_no_proxy_and_loopback_bypass_the_proxy(no_proxy_environment):
    no_proxy_environment.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    no_proxy_environment.setenv("NO_PROXY", ".helpscout.net")
    assert Transport("https://api.helpscout.net/v2", 1, 1, 1)._proxy is None
    assert Transport("http://127.0.0.1:8080/v2", 1, 1, 1)._proxy is None


def test_an_unusable_proxy_url_is_a_config_error(no_proxy_environment):
    no_proxy_environment.setenv("HTTPS_PROXY", "https://proxy.corp.example:3128")
    config = {"client_id": "a", "client_secret": "b", "refresh_token": "c",
              "start_date": "2024-01-01T00:00:00Z"}
    with pytest.raises(ConfigError, match="HTTPS_PROXY must be an http:// proxy URL"):
        HelpScoutClient(config)


def test_the_ca_bundle_comes_from_the_environment_or_certifi(monkeypatch, tmp_path):
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "bundle.pem"))
    assert transport_module._ca_bundle() == str(tmp_path / "bundle.pem")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    certifi = pytest.importorskip("certifi")
    assert transport_module._ca_bundle() == certifi.where()


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


def test_https_verifies_the_server_against_the_configured_ca_bundle(tls_server, monkeypatch):
    server, cert = tls_server
    port = server.sock.getsockname()[1]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    wire = Transport(f"https://localhost:{port}/v2", 2, 5, 1)
    assert json.loads(wire.request("GET", f"https://localhost:{port}/v2/users").body) == {"secure": True}
    assert json.loads(wire.request("GET", f"https://localhost:{port}/v2/users").body) == {"again": True}
    assert server.connections == 1, "the TLS connection is kept alive"


def test_https_refuses_a_server_it_cannot_verify(tls_server, monkeypatch):
    server, _ = tls_server
    port = server.sock.getsockname()[1]
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    wire = Transport(f"https://localhost:{port}/v2", 2, 5, 1)
    with pytest.raises(TransportError, match="SSLCertVerificationError") as raised:
        wire.request("GET", f"https://localhost:{port}/v2/users")
    assert raised.value.may_have_reached_server is False
