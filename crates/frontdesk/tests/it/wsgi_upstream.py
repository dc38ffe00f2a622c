"""An upstream that reads requests the way WSGI servers do, for the gateway
tests (issue 11): PATH_INFO is the percent-decoded path, and header names
become HTTP_* keys with "-" and "_" both read as "_", so `X_Frontdesk_Sub`
and `X-Frontdesk-Sub` merge into one comma-joined value.

Answers every request with JSON: the method, the raw request target the
gateway sent, PATH_INFO, QUERY_STRING and every HTTP_* value. Run with
`python3 wsgi_upstream.py`; prints `listening on http://127.0.0.1:PORT`.
Python 3 standard library only (wsgiref).
"""

import json
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class Handler(WSGIRequestHandler):
    def get_environ(self):
        env = super().get_environ()
        env["RAW_TARGET"] = self.path
        return env

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def app(environ, start_response):
    body = json.dumps(
        {
            "method": environ["REQUEST_METHOD"],
            "raw": environ["RAW_TARGET"],
            "path": environ["PATH_INFO"],
            "query": environ.get("QUERY_STRING", ""),
            "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        }
    ).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


if __name__ == "__main__":
    httpd = make_server("127.0.0.1", 0, app, server_class=Server, handler_class=Handler)
    print(f"listening on http://127.0.0.1:{httpd.server_port}", flush=True)
    sys.stdout.close()
    httpd.serve_forever()
