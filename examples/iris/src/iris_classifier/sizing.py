"""How much memory the server takes, and whether the Elastic Beanstalk instance holds it.

load.py watches the server's processes while the load runs (MemoryWatch, from /proc, so on
Linux only), then verdict() compares what they took with the instance type and the
THREADS / WEB_CONCURRENCY in .ebextensions/.
"""

import re
import threading
from pathlib import Path

from . import config
from .settings import Settings

EB_DIR = config.PROJECT_ROOT / ".ebextensions"
# For sizing an instance: the memory the system takes beside the server (Amazon Linux, Docker
# or the platform's agents, nginx: a generous guess), and what one request of the largest
# size (MAX_CONTENT_LENGTH) adds while it is scored (README: Limits), in MB.
SYSTEM_MB = 400
LARGEST_REQUEST_MB = 50
# Memory of the burstable instance types (t3.micro, t4g.small...) by size, in MB.
SIZES_MB = {"nano": 512, "micro": 1024, "small": 2048, "medium": 4096, "large": 8192}
SUGGESTED = ("t3.micro", "t3.small", "t3.medium", "t3.large")


def memory_of(pid):
    """A process's memory in MB, from /proc/<pid>/status (Linux).

    VmRSS: now; VmHWM: the highest so far; RssAnon: its own memory; RssFile and RssShmem:
    memory that maps files (the libraries), which gunicorn's workers share.
    """
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            figures[key] = int(value.split()[0]) / 1024
    return figures


def children_of(pid):
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it has just exited
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4: the parent
                children.append(int(entry.name))
    return children


class MemoryWatch(threading.Thread):
    """Reads the memory of the server's processes (gunicorn: master and workers) 5 times
    a second while the load runs, and keeps each process's highest figures."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks = {}  # pid -> {figure: highest MB}
        self.done = threading.Event()
        self.read()
        self.at_rest = sum(figures["VmRSS"] for figures in self.peaks.values())

    def read(self):
        for pid in [self.pid, *children_of(self.pid)]:
            try:
                figures = memory_of(pid)
            except (OSError, ValueError):
                continue  # it has just exited
            peaks = self.peaks.setdefault(pid, {})
            for key, value in figures.items():
                peaks[key] = max(peaks.get(key, 0), value)

    def run(self):
        while not self.done.wait(0.2):
            self.read()

    def stop(self):
        self.done.set()
        self.join()
        self.read()

    @property
    def peak(self):
        """The highest memory of each process, added up (they need not peak together)."""
        return sum(figures["VmHWM"] for figures in self.peaks.values())

    def server_mb(self, workers):
        """The server's peak with `workers` gunicorn workers (waitress: its one process).

        A worker's own memory counts once per worker; the libraries they map, once.
        """
        main = self.peaks[self.pid]["VmHWM"]
        workers_seen = [figures for pid, figures in self.peaks.items() if pid != self.pid]
        if not workers_seen:
            return main
        shared = [f.get("RssFile", 0) + f.get("RssShmem", 0) for f in workers_seen]
        own = [f["VmHWM"] - s for f, s in zip(workers_seen, shared, strict=True)]
        return main + workers * max(own) + max(shared)


def eb_settings():
    """-> (instance type, THREADS, WEB_CONCURRENCY) from .ebextensions/, or None."""
    if not EB_DIR.is_dir():
        return None
    text = "\n".join(path.read_text(encoding="utf-8") for path in EB_DIR.glob("*.config"))

    def value(name, default):
        found = re.search(rf"^\s*{name}:\s*\"?([\w.]+)", text, re.MULTILINE)
        return found.group(1) if found else default

    instance = value("InstanceTypes", "t3.micro")  # the first, when several are listed
    defaults = Settings()
    return (
        instance,
        int(value("THREADS", defaults.threads)),
        int(value("WEB_CONCURRENCY", defaults.workers)),
    )


def instance_mb(instance):
    family, _, size = instance.partition(".")
    return SIZES_MB.get(size) if family in ("t2", "t3", "t3a", "t4g") else None


def sizing(watch, gunicorn, threads, workers):
    """-> (the server's settings in words, MB needed at most, requests scored at once)."""
    if gunicorn:
        at_once, words = workers * threads, f"WEB_CONCURRENCY={workers} x THREADS={threads}"
    else:
        at_once, words, workers = threads, f"THREADS={threads}", 1
    needed = SYSTEM_MB + watch.server_mb(workers) + at_once * LARGEST_REQUEST_MB
    return words, needed, at_once


def smallest_holding(needed):
    """The smallest SUGGESTED instance with 10% to spare over `needed` MB, in words."""
    for name in SUGGESTED:
        if needed * 1.1 <= instance_mb(name):
            return f"a {name} ({instance_mb(name) // 1024} GiB)"
    return f"none up to a {SUGGESTED[-1]}"


def verdict(watch, gunicorn, local_settings):
    """A sentence: does the instance in .ebextensions/ hold the server, and with what room."""
    if watch is None:
        return "Memory not measured, so no instance sizing: run it without --url, on Linux."
    eb = eb_settings()
    if eb is None:
        words, needed, _ = sizing(watch, gunicorn, local_settings.threads, local_settings.workers)
        return (
            f"No .ebextensions/ here: with {words}, as run here, an instance needs about "
            f"{needed:,.0f} MB; {smallest_holding(needed)} holds that with 10% to spare."
        )
    instance, threads, workers = eb
    words, needed, at_once = sizing(watch, gunicorn, threads, workers)
    why = (
        f"{SYSTEM_MB} MB system + {needed - SYSTEM_MB - at_once * LARGEST_REQUEST_MB:,.0f} MB "
        f"server (as measured) + {at_once} requests of the largest size x {LARGEST_REQUEST_MB} MB"
    )
    memory = instance_mb(instance)
    if memory is None:
        return f"A {instance} (.ebextensions/) with {words} needs about {needed:,.0f} MB: {why}."
    size = f"{instance} ({memory / 1024:g} GiB)"
    if needed > memory:
        fewer = "THREADS or WEB_CONCURRENCY" if gunicorn else "THREADS"
        return (
            f"A {size} (.ebextensions/) is too small for {words}: {needed:,.0f} MB needed "
            f"({why}). Lower {fewer}, or choose {smallest_holding(needed)}."
        )
    spare = memory - needed
    if gunicorn:
        per_worker = watch.server_mb(workers + 1) - watch.server_mb(workers)
        more = int(spare // (per_worker + threads * LARGEST_REQUEST_MB))
        room = f"room for {more} more workers" if more else "no room for another worker"
    else:
        more = int(spare // LARGEST_REQUEST_MB)
        room = f"room for {more} more threads" if more else "no room for another thread"
    return (
        f"A {size} (.ebextensions/) holds {words} with {room}: "
        f"{needed:,.0f} of {memory:,} MB ({why})."
    )
