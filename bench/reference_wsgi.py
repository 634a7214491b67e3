"""Reference 1: the fastest possible Python web service, a bare WSGI app on waitress.

It answers every request with the same JSON and predicts nothing: the ceiling that
no real service on this server can pass. Run: python reference_wsgi.py (PORT env).
"""

import logging
import os

from waitress import serve

BODY = b'{"prediction": "setosa", "probabilities": {"setosa": 0.98, "versicolor": 0.02}}'


def app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]


if __name__ == "__main__":
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    serve(
        app,
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        threads=int(os.environ.get("THREADS", 4)),
    )
