"""Raw-socket servers on 127.0.0.1 for the tests that need exact bytes on the wire (hostile
answers, cut bodies, TLS, a CONNECT proxy): the accept loop and the reading of one HTTP/1.1
request, shared."""
import socket
import threading


class LoopbackServer:
    """Accepts connections on a free loopback port, each handled by `handle(conn)` in a thread
    of its own; counts them."""

    def __init__(self, backlog=16):
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v2"

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
        raise NotImplementedError

    def close(self):
        self.sock.close()


def read_head(conn, buffered=b""):
    """(head, what came after it) of the next request on `conn`, or None once it is closed."""
    while b"\r\n\r\n" not in buffered:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffered += chunk
    head, rest = buffered.split(b"\r\n\r\n", 1)
    return head, rest


def read_request(conn, buffered=b""):
    """(head as text, headers with lower-case names, body, bytes after it) of the next request
    on `conn`, or None once it is closed. The head is the request line and the header lines."""
    read = read_head(conn, buffered)
    if read is None:
        return None
    head, rest = read
    head = head.decode("latin-1")
    lines = head.split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length") or 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head, headers, rest[:length], rest[length:]
