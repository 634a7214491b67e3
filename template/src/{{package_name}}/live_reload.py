"""Follow models/LIVE: when `make promote` or `make rollback` switches the live version, the
running service starts answering with it within a second, without a failed request.

LiveApp wraps the Flask app. At most once a second a request looks at models/LIVE (one
os.stat: its time and file number change when versions.write_live replaces it). When it
changed, that request's thread loads the new version and builds a new app for it (form,
API documents and monitoring come from the model, so all of them are rebuilt), while the
other threads go on answering with the old one; then the new app takes the old one's
place in one assignment. A request sees one version from start to end.

models/CANDIDATE (candidate.py) is followed the same way: a shadow or canary starting,
changing or ending builds a new app with its candidate.

If the new version cannot be loaded, the old one stays in service and the log says why.
Why not a signal (SIGHUP)? waitress also runs on Windows, which has no SIGHUP, and
`make promote` would have to find the server's process; the file works everywhere,
containers included. gunicorn's own SIGHUP (new workers, which load the live version) works too.
"""

import logging
import os
import threading
import time

from .model import LIVE_FILE, ModelError, load_model, models_root
from .versions import CANDIDATE_FILE

CHECK_SECONDS = 1.0
log = logging.getLogger(__name__)


class LiveApp:
    """A WSGI app that serves the live model version: make_app(model) -> a Flask app."""

    def __init__(self, app, make_app, pointer=None, check_seconds=CHECK_SECONDS):
        self.app = app
        self.make_app = make_app
        self.pointer = pointer or models_root() / LIVE_FILE
        # A shadow or canary starting or ending (candidate.py) is followed the same way.
        self.plan = self.pointer.parent / CANDIDATE_FILE
        self.check_seconds = check_seconds
        self.seen = self.signature()
        self.next_check = time.monotonic() + check_seconds
        self.loading = threading.Lock()

    def __call__(self, environ, start_response):
        now = time.monotonic()
        if now >= self.next_check:
            self.next_check = now + self.check_seconds
            self.follow()
        return self.app(environ, start_response)  # the app of that moment, old or new

    def signature(self):
        """When models/LIVE and models/CANDIDATE were last replaced (None: not there)."""
        return stamp(self.pointer), stamp(self.plan)

    def follow(self):
        """Load the live version if models/LIVE changed; one thread does, the others go on."""
        signature = self.signature()
        if signature == self.seen or not self.loading.acquire(blocking=False):
            return
        try:
            if signature == self.seen:
                return
            self.seen = signature
            started = time.perf_counter()
            try:
                model = load_model()
            except ModelError as error:
                log.error("the live version changed but cannot be loaded: %s", error)
                return
            self.app = self.make_app(model)
            seconds = time.perf_counter() - started
            log.info("now serving model version %s (loaded in %.1f s)", model.version, seconds)
        finally:
            self.loading.release()


def stamp(path):
    """A file's modification time, file number and size; None when there is no such file."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_mtime_ns, found.st_ino, found.st_size
