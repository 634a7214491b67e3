"""Every request gets an id, a line in the access log and its figures in /metrics.

The id comes from the client's X-Request-ID header when it is a short, plain token (a
proxy or a caller may have made one already), or is made here; the answer carries it in
X-Request-ID, and the access log and the prediction log (predictions_log.py) name it.

An access log line is one JSON object on stdout: time, id, method, route, status,
milliseconds, model version. It never holds the values sent (ACCESS_LOG=0 turns it off).
The time is until the answer is ready: a scored CSV file is still being sent after that.
"""

import json
import os
import re
import secrets
import time

from flask import current_app, g, request

from . import metrics

STDOUT = 1
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
PLAIN = re.compile(r"[A-Za-z0-9._:/<>() -]*")  # nothing JSON would escape


def install(app, settings):
    """Hook the tracking into the app (before and after every request)."""
    log = access_log_writer() if settings.access_log else None
    count = settings.monitoring

    def start():
        g.started = time.perf_counter()
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if CLIENT_ID.fullmatch(given) else secrets.token_hex(8)

    def finish(response):
        seconds = time.perf_counter() - g.started
        rule = request.url_rule
        route = rule.rule if rule is not None else "(no route)"
        status = response.status_code
        if count:
            metrics.count_request(route, status, seconds)
        response.headers["X-Request-ID"] = g.request_id
        if log is not None:
            model = current_app.config.get("MODEL_VERSION", "none")
            log(request.method, route, status, seconds, model)
        return response

    app.before_request(start)
    app.after_request(finish)


def access_log_writer():
    """-> log(method, route, status, seconds, model): writes one JSON line to stdout.

    One write call for each line, and no lock: the system keeps a short write whole. A lock
    (the logging module has one) makes the server's threads queue behind whichever thread
    holds it while it waits to run again: a third of the requests per second, measured.
    The method comes from the client: it is escaped unless plain.
    """

    def log(method, route, status, seconds, model):
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        line = (
            f'{{"time": "{stamp}.{int(now % 1 * 1000):03d}Z", "request_id": "{g.request_id}", '
            f'"method": {plain(method)}, "route": {plain(route)}, '
            f'"status": {status}, "ms": {seconds * 1000:.2f}, "model": "{model}"}}\n'
        )
        os.write(STDOUT, line.encode())

    return log


def plain(text):
    """text as a JSON string; most are plain already and need no escaping."""
    return f'"{text}"' if PLAIN.fullmatch(text) else json.dumps(text)


def request_id():
    """The id of the request being answered."""
    return g.get("request_id", "")
