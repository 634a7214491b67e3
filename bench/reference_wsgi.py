"""Reference 1: the fastest possible Python web service, a bare WSGI app on waitress.

It answers every request with the same JSON and predicts nothing: the ceiling that
no real service on this server can pass. Run: python reference_wsgi.py (PORT env).
With CSV_ANSWER_BYTES=N, a text/csv request gets N bytes made in advance: what sending a
scored file of that size costs, with nothing read or scored (bench/run.py's CSV floor).
"""

import logging
import os

from waitress import serve

BODY = b'{"prediction": "setosa", "probabilities": {"setosa": 0.98, "versicolor": 0.02}}'
CSV_ANSWER = b"x" * int(os.environ.get("CSV_ANSWER_BYTES", 0))


def app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    body, kind = BODY, "application/json"
    if environ.get("CONTENT_TYPE") == "text/csv" and CSV_ANSWER:
        body, kind = CSV_ANSWER, "text/csv"
    start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    serve(
        app,
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        threads=int(os.environ.get("THREADS", 4)),
    )
