"""A tiny HTTP server on 127.0.0.1 that stands in for the weight hosts in tests (no internet)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class LocalServer:
    """Serves ``files[name]`` (bytes or a Path) at ``/name``.

    ``cut[name] = n`` announces the full length but sends only n bytes, then closes the
    connection (an interrupted download). ``stall[name] = n`` announces the full length, sends
    n bytes and then nothing more until the server stops (a host that hangs).
    ``trickle[name] = seconds`` sends the body one byte at a time with that pause between bytes
    (a host that never quite stops). ``requests`` counts GETs per name.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes | Path] = {}
        self.cut: dict[str, int] = {}
        self.stall: dict[str, int] = {}
        self.trickle: dict[str, float] = {}
        self.stopping = threading.Event()
        self.requests: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                name = self.path.lstrip("/")
                server.requests[name] = server.requests.get(name, 0) + 1
                body = server.files.get(name)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                if isinstance(body, Path):
                    body = body.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in server.trickle:
                    for i in range(len(body)):
                        if server.stopping.wait(server.trickle[name]):
                            break
                        try:
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                        except OSError:  # the client gave up: that is the point
                            break
                    self.close_connection = True
                    return
                n = server.stall.get(name, server.cut.get(name, len(body)))
                self.wfile.write(body[:n])
                self.wfile.flush()
                if name in server.stall:
                    server.stopping.wait()
                self.close_connection = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def __enter__(self) -> "LocalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
