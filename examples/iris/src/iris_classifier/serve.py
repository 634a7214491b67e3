"""Start the production web server, waitress: `make serve` or `python -m <package>.serve`.

Its settings come from environment variables (see settings.py), for example
`PORT=8080 THREADS=16 make serve`. Ctrl-C stops it.
"""

import logging
import signal
import sys

from waitress import create_server

from .app import create_app
from .model import ModelError, load_model
from .settings import SettingsError, configure_logging, from_env


def main():
    configure_logging()
    # "Task queue depth is N" only says that requests waited for a free thread: normal under load.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        settings = from_env()
        app = create_app(load_model())  # a missing or broken model stops here, in one line
        server = create_server(
            app, host=settings.host, port=settings.port, threads=settings.threads
        )
    except (SettingsError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # for example the port is taken
        print(f"error: cannot listen on {settings.address}: {error.strerror}", file=sys.stderr)
        return 1
    print(settings.startup_line(f"waitress, {settings.threads} threads"), flush=True)
    # `docker stop` and Elastic Beanstalk send SIGTERM: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server.run()  # returns after Ctrl-C, once waitress has stopped its threads
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
