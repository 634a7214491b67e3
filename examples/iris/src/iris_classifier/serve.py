"""Start the production web server, waitress: `make serve` or `python -m <package>.serve`.

Its settings come from environment variables (see settings.py), for example
`PORT=8080 THREADS=16 make serve`. With the one argument `serve`, as Amazon SageMaker starts
the image, it listens where SageMaker expects (settings.sagemaker_mode). Ctrl-C stops it, and
so does SIGTERM (`docker stop`, Elastic Beanstalk, SageMaker): either way the requests in
progress are answered first. When `make promote` or `make rollback` switches the live model
version, the server answers with it within a second (live_reload.py).
"""

import logging
import os
import signal
import socket
import sys
import time

from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import RequestEntityTooLarge

from .app import create_app
from .live_reload import LiveApp
from .model import ModelError, load_model
from .settings import SettingsError, configure_logging, from_env, sagemaker_mode
from .tracking import flush_access_log


class TooLargeTask(WSGITask):
    """A body far over MAX_CONTENT_LENGTH, which waitress stopped reading: the app answers.

    waitress would answer in plain text; the app gives the same 413 as for any body over
    the limit (JSON, or a page for a browser), without reading the body.
    """

    def get_environment(self):
        environ = super().get_environment()
        environ["CONTENT_LENGTH"] = str(self.channel.adj.max_request_body_size)  # over the limit
        return environ

    def execute(self):
        self.set_close_on_finish()  # the rest of the body is never read
        self.channel.linger_on_close = True
        super().execute()


# After a 413 the client may still be sending. Closing a socket with unread bytes makes the
# kernel send a reset, which can destroy the 413 before the client reads it; so the server
# stops writing, then reads and drops what still comes, for this long at most.
LINGER_SECONDS = 5


class Channel(HTTPChannel):
    """One client connection; waitress's own, except for a body over the limit."""

    linger_on_close = False
    linger_until = None  # set while the rest of a refused body is read and dropped

    @staticmethod
    def error_task_class(channel, request):
        if isinstance(request.error, RequestEntityTooLarge):
            return TooLargeTask(channel, request)
        return ErrorTask(channel, request)

    def handle_close(self):
        if self.linger_on_close and self.linger_until is None and self.connected:
            try:
                self.socket.shutdown(socket.SHUT_WR)  # the client reads the answer, then EOF
            except OSError:
                return super().handle_close()
            self.linger_until = time.monotonic() + LINGER_SECONDS
            self.will_close = False
            return None
        return super().handle_close()

    def readable(self):
        if self.linger_until is None:
            return super().readable()
        if time.monotonic() > self.linger_until:
            self.will_close = True  # writable() then closes it
            return False
        return True

    def writable(self):
        if self.linger_until is None:
            return super().writable()
        return self.will_close

    def handle_read(self):
        if self.linger_until is None:
            return super().handle_read()
        self.recv(self.adj.recv_bytes)  # dropped; at the client's end of data this closes
        return None

    def busy(self):
        """A request is coming in, being answered or sent, or a refused body is dropped."""
        return bool(self.request or self.requests or self.total_outbufs_len or self.linger_until)


# While stopping, a connection that sends nothing for this long is closed. Not at once: a
# client that has just connected may have its request on the way.
IDLE_SECONDS = 1


def serve_until_stopped(connections, grace):
    """Serve until SIGTERM or Ctrl-C, then finish what was asked: -> requests left unfinished.

    waitress on its own drops every request in progress when it stops. Here the server
    first stops listening (a new connection is refused), then goes on answering the
    requests it has and sending the answers, for `grace` seconds at most.
    """
    stop = []
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda number, frame: stop.append(number))
    while not stop:
        wasyncore.loop(timeout=0.2, map=connections, count=1)  # what server.run() does

    for listener in [c for c in connections.values() if isinstance(c, BaseWSGIServer)]:
        taken = None
        while taken != len(connections):  # take the clients that connected before the signal
            taken = len(connections)
            listener.handle_accept()
        # Not listener.close(): that also closes the trigger the threads wake this loop with.
        wasyncore.dispatcher.close(listener)

    deadline = time.monotonic() + grace
    while True:
        channels = [c for c in connections.values() if isinstance(c, Channel)]
        if not channels or time.monotonic() > deadline:
            return sum(channel.busy() for channel in channels)
        for channel in channels:
            if not channel.busy() and time.time() - channel.last_activity > IDLE_SECONDS:
                channel.will_close = True  # kept alive after an answer, or never used
        wasyncore.loop(timeout=0.1, map=connections, count=1)


def main(arguments=None):
    arguments = sys.argv[1:] if arguments is None else arguments
    if arguments == ["serve"]:  # `docker run <image> serve`: Amazon SageMaker
        sagemaker_mode()
    elif arguments:
        print(f"error: unknown arguments {arguments}: the only one is serve", file=sys.stderr)
        return 2
    configure_logging()
    # "Task queue depth is N" only says that requests waited for a free thread: normal under load.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        settings = from_env()
        app = create_app(load_model())  # a missing or broken model stops here, in one line
        app = LiveApp(app, create_app)  # follows `make promote` and `make rollback`
    except (SettingsError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    connections = {}  # everything waitress watches: its listening sockets and the clients
    try:
        server = create_server(
            app,
            map=connections,
            host=settings.host,
            port=settings.port,
            threads=settings.threads,
            connection_limit=settings.connection_limit,
            # waitress reads a whole body before the app sees it. Past twice the limit (chunk
            # headers count too) it stops, rather than keep up to 1 GiB of it on disk.
            max_request_body_size=2 * settings.max_content_length,
        )
    except OSError as error:  # for example the port is taken
        print(f"error: cannot listen on {settings.address}: {error.strerror}", file=sys.stderr)
        return 1
    for listener in connections.values():
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = Channel
    print(settings.startup_line(f"waitress, {settings.threads} threads"), flush=True)
    unfinished = serve_until_stopped(connections, settings.graceful_timeout)
    if unfinished:
        logging.warning(
            "%d requests still unfinished after GRACEFUL_TIMEOUT (%d s): dropped",
            unfinished,
            settings.graceful_timeout,
        )
    server.task_dispatcher.shutdown(timeout=1)
    flush_access_log()
    print("Stopped.", flush=True)
    if unfinished:
        os._exit(0)  # not Python's normal exit, which can crash under threads still predicting
    return 0


if __name__ == "__main__":
    sys.exit(main())
