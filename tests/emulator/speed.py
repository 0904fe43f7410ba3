"""Measure how many conversation pages with embedded threads the emulator serves per second.

    python -m tests.emulator.speed [--conversations 500] [--seconds 3] [--clients 1]

The emulator runs in its own process (one core: CPython threads share one GIL) and the clients
in this one, each on a keep-alive connection, so the figure is the server's alone. The pages
are the tap's request (status=all, sortField=modifiedAt, asc, modifiedSince, embed=threads).
"""
import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.emulator.speed")
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args(argv)

    root = Path(__file__).resolve().parents[2]
    config = Path(tempfile.mkdtemp()) / "config.json"
    server = subprocess.Popen([sys.executable, "-m", "tests.emulator", "--port", "0",
                               "--conversations", str(args.conversations), "--config-out", str(config)],
                              cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = server.stdout.readline().strip()
        host, port = urlsplit(base).hostname, urlsplit(base).port
        token = bearer(host, port, json.loads(config.read_text()))
        pages = -(-args.conversations // 25)
        counts = [0] * args.clients
        sizes = [0] * args.clients
        deadline = time.perf_counter() + args.seconds

        def client(index):
            conn = http.client.HTTPConnection(host, port, timeout=10)
            page = index
            while time.perf_counter() < deadline:
                page = page % pages + 1
                conn.request("GET", "/v2/conversations?status=all&sortField=modifiedAt&sortOrder=asc"
                                    f"&modifiedSince=2019-01-01T00:00:00Z&embed=threads&page={page}",
                             headers={"Authorization": "Bearer " + token})
                response = conn.getresponse()
                body = response.read()
                assert response.status == 200, body[:200]
                counts[index] += 1
                sizes[index] += len(body)
            conn.close()

        started = time.perf_counter()
        workers = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        total = sum(counts)
        print(f"{total / elapsed:.0f} conversation pages/s with embed=threads "
              f"({total} pages, {sum(sizes) / max(total, 1) / 1024:.0f} KiB each, {args.clients} client(s), "
              f"{args.conversations} conversations)")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


def bearer(host, port, settings):
    """An access token by the client_credentials grant."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("POST", "/v2/oauth2/token",
                 body=urlencode({"grant_type": "client_credentials", "client_id": settings["client_id"],
                                 "client_secret": settings["client_secret"]}),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return answer["access_token"]


if __name__ == "__main__":
    sys.exit(main())
