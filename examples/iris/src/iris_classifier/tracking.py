"""Every request gets an id, a line in the access log and its figures in /metrics.

The id comes from the client's X-Request-ID header when it is a short, plain token (a
proxy or a caller may have made one already), or is made here; the answer carries it in
X-Request-ID, and the access log and the prediction log (predictions_log.py) name it. The
answer also says which model version made it, in X-Model-Version.

An access log line is one JSON object on stdout: time, id, method, route, status,
milliseconds, model version. It never holds the values sent (ACCESS_LOG=0 turns it off).
The time is until the answer is ready: a scored CSV file is still being sent after that.
"""

import atexit
import collections
import functools
import itertools
import json
import os
import re
import secrets
import threading
import time

from flask import current_app, g, request

from . import metrics

STDOUT = 1
LINE = (
    '{"time": "%s.%03dZ", "request_id": "%s", "method": %s, "route": %s, '
    '"status": %d, "ms": %.2f, "model": "%s"}\n'
)
FLUSH_SECONDS = 0.2
# Ids made here: a random start for this process, then a counter. No call to the system's
# random source for each request (it would let other threads run, as a write does).
PROCESS_ID = secrets.token_hex(5)
COUNTER = itertools.count(1)
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
PLAIN = re.compile(r"[A-Za-z0-9._:/<>() -]*")  # nothing JSON would escape


def install(app, settings):
    """Hook the tracking into the app (before and after every request)."""
    log = access_log_writer() if settings.access_log else None
    count = settings.monitoring

    def start():
        g.started = time.perf_counter()
        given = request.environ.get("HTTP_X_REQUEST_ID", "")
        g.request_id = given if CLIENT_ID.fullmatch(given) else f"{PROCESS_ID}{next(COUNTER):06x}"

    def finish(response):
        seconds = time.perf_counter() - g.started
        rule = request.url_rule
        route = rule.rule if rule is not None else "(no route)"
        status = response.status_code
        if count:
            metrics.count_request(route, status, seconds)
        response.headers["X-Request-ID"] = g.request_id
        # The version that answered: a canary's (serving.py), else the app's live version.
        model = g.get("model_version") or current_app.config.get("MODEL_VERSION", "none")
        response.headers["X-Model-Version"] = model
        if log is not None:
            log(request.method, route, status, seconds, model)
        return response

    app.before_request(start)
    app.after_request(finish)


@functools.cache  # one writer a process, however many apps (a new one at each model switch)
def access_log_writer():
    """-> log(method, route, status, seconds, model): one JSON line for stdout.

    The request's thread only adds the line to a list; a thread of its own writes what has
    gathered every FLUSH_SECONDS, in one call. Writing in the request's thread costs more
    than it seems: a thread that writes lets the others run, then waits its turn to run
    again (Python runs one thread at a time), and with a lock around the write (the logging
    module has one) every thread queues behind it: measured, a third of the requests per
    second. A crash can lose the last FLUSH_SECONDS of lines; a normal stop writes them.
    The method comes from the client: it is escaped unless plain.
    """
    pending = collections.deque()

    def log(method, route, status, seconds, model):
        now = time.time()
        fields = (timestamp(int(now)), int(now % 1 * 1000), g.request_id, plain(method))
        pending.append(LINE % (*fields, plain(route), status, seconds * 1000, model))

    def write_pending():
        lines = []
        while pending:
            lines.append(pending.popleft())
        if lines:
            os.write(STDOUT, "".join(lines).encode())

    def writer():
        while True:
            time.sleep(FLUSH_SECONDS)
            write_pending()

    threading.Thread(target=writer, name="access-log", daemon=True).start()
    atexit.register(write_pending)
    log.flush = write_pending
    return log


def flush_access_log():
    """Write the lines still waiting: the server calls it before it prints "Stopped."."""
    if access_log_writer.cache_info().currsize:  # an access log was made in this process
        access_log_writer().flush()


@functools.lru_cache(maxsize=4)
def timestamp(now):
    """The date and time to the second (computed once a second, not once a request)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(now)))


def plain(text):
    """text as a JSON string; most are plain already and need no escaping."""
    return f'"{text}"' if PLAIN.fullmatch(text) else json.dumps(text)


def request_id():
    """The id of the request being answered."""
    return g.get("request_id", "")
