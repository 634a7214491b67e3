"""Start the production web server, waitress: `make serve` or `python -m <package>.serve`.

Its settings come from environment variables (see settings.py), for example
`PORT=8080 THREADS=16 make serve`. Ctrl-C stops it.
"""

import logging
import signal
import sys

from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import RequestEntityTooLarge

from .app import create_app
from .model import ModelError, load_model
from .settings import SettingsError, configure_logging, from_env


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
        super().execute()


class Channel(HTTPChannel):
    """One client connection; waitress's own, except for a body over the limit."""

    @staticmethod
    def error_task_class(channel, request):
        if isinstance(request.error, RequestEntityTooLarge):
            return TooLargeTask(channel, request)
        return ErrorTask(channel, request)


def main():
    configure_logging()
    # "Task queue depth is N" only says that requests waited for a free thread: normal under load.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        settings = from_env()
        app = create_app(load_model())  # a missing or broken model stops here, in one line
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
    # `docker stop` and Elastic Beanstalk send SIGTERM: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server.run()  # returns after Ctrl-C, once waitress has stopped its threads
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
