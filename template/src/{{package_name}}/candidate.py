"""A candidate version beside the live one: in shadow, or as a canary.

    make shadow VERSION=<id>             every request is also scored by <id>, off the
                                         response path; the answers stay the live version's
    make canary VERSION=<id> SHARE=0.1   <id> answers that share of the requests
    make canary-stop                     only the live version again
    make promote VERSION=<id>            <id> becomes live; shadow or canary ends
    make rollback                        shadow or canary ends too

(or `python -m <package>.candidate shadow <id> | canary <id> --share 0.1 | stop | show`).

The plan is one line in models/CANDIDATE, "<id> shadow" or "<id> canary 0.1", replaced
whole like models/LIVE: every server process (each gunicorn worker, a container built with
the file) follows it within a second, as it follows models/LIVE (live_reload.py). The
service itself is in serving.py (which version answers) and shadow.py (the shadow scoring).

A candidate must take the same inputs as the live version (the same fields, kinds, required
fields and categories): one request body has to be valid for both. Otherwise it is refused,
with the reason. Ranges may differ: they only make warnings.
"""

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .model import ModelError, live_version, models_root
from .versions import CANDIDATE_FILE, VersionError, metadata_of, record

MODES = ("shadow", "canary")


@dataclass(frozen=True)
class Plan:
    version: str
    mode: str  # "shadow" or "canary"
    share: float = 0.0  # canary: the share of requests the candidate answers

    def line(self):
        return f"{self.version} {self.mode}" + (f" {self.share:g}" if self.mode == "canary" else "")


def read_plan(root=None):
    """The plan in models/CANDIDATE, or None when there is none; ModelError if unusable."""
    path = Path(root or models_root()) / CANDIDATE_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ModelError(f"cannot read {path}: {error.strerror}") from None
    parts = text.split()
    try:
        if len(parts) == 2 and parts[1] == "shadow":
            return Plan(parts[0], "shadow")
        if len(parts) == 3 and parts[1] == "canary":
            return Plan(parts[0], "canary", check_share(float(parts[2])))
    except (ValueError, VersionError):
        pass
    raise ModelError(f"{path} must be '<id> shadow' or '<id> canary <share>', not {text!r}")


def check_share(share):
    if not 0 < share <= 1:  # also refuses NaN
        raise VersionError(f"the canary share must be above 0 and at most 1, not {share}")
    return share


def write_plan(plan, root=None):
    """models/CANDIDATE, replaced whole (a reader sees the old plan or the new one)."""
    root = Path(root or models_root())
    handle, temporary = tempfile.mkstemp(dir=root, prefix=".CANDIDATE-")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(plan.line() + "\n")
    os.chmod(temporary, 0o644)  # the server may run as another user
    os.replace(temporary, root / CANDIDATE_FILE)


# What decides whether a value is valid. The range and the default only make warnings and
# the form's starting values, and a version trained on other rows has other ones.
CHECKED = ("kind", "required", "categories")


def input_difference(live, candidate):
    """-> why two versions' model.json do not take the same requests, or None if they do."""
    if live["task"] != candidate["task"]:
        return f"the live version is a {live['task']}, the candidate a {candidate['task']}"
    live_names = [field["name"] for field in live["schema"]]
    new_names = [field["name"] for field in candidate["schema"]]
    if set(live_names) != set(new_names):
        missing = sorted(set(live_names) - set(new_names))
        added = sorted(set(new_names) - set(live_names))
        return f"the inputs differ (only live: {missing}; only the candidate: {added})"
    if live_names != new_names:
        return "the inputs are in another order"
    for old, new in zip(live["schema"], candidate["schema"], strict=True):
        for key in CHECKED:
            if old.get(key) != new.get(key):
                change = f"{old.get(key)} -> {new.get(key)}"
                return f"the input {old['name']!r} has another {key}: {change}"
    for key in ("input_columns", "input_dtypes"):  # a notebook model's own columns
        if live.get(key) != candidate.get(key):
            return f"the notebook model's {key} differ"
    return None


def start(version, mode, share=None, root=None):
    """Run a version in shadow or as a canary: -> the Plan written to models/CANDIDATE."""
    candidate = metadata_of(version, root)
    live = live_version(root)
    if live is None:
        raise VersionError("no version is live: `make train` first")
    if version == live:
        raise VersionError(f"{version} is the live version already")
    difference = input_difference(metadata_of(live, root), candidate)
    if difference:
        raise VersionError(
            f"{version} cannot run beside {live}: {difference}; one request must be valid "
            "for both. Promote it instead (make promote) or retrain with the same inputs"
        )
    plan = Plan(version, mode, check_share(share) if mode == "canary" else 0.0)
    write_plan(plan, root)
    record(mode, version, root)
    return plan


def stop(root=None):
    """End the shadow or canary: -> the plan that ran, or None if there was none."""
    root = Path(root or models_root())
    try:
        plan = read_plan(root)
    except ModelError:
        plan = None  # a damaged file is removed all the same
    (root / CANDIDATE_FILE).unlink(missing_ok=True)
    if plan:
        record("stop", plan.version, root)
    return plan


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="candidate", description="Run a model version in shadow or as a canary."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    shadowing = commands.add_parser("shadow", help="score every request with it too, unseen")
    shadowing.add_argument("version")
    canary = commands.add_parser("canary", help="let it answer a share of the requests")
    canary.add_argument("version")
    canary.add_argument("--share", type=float, default=0.1, help="0 to 1 (default 0.1)")
    commands.add_parser("stop", help="end the shadow or canary")
    commands.add_parser("show", help="print the plan running now")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "shadow":
            start(arguments.version, "shadow")
            print(f"{arguments.version} runs in shadow; a running service follows within a second")
        elif arguments.command == "canary":
            plan = start(arguments.version, "canary", arguments.share)
            print(f"{plan.version} answers {plan.share:.0%} of the requests (canary)")
        elif arguments.command == "stop":
            plan = stop()
            print(f"{plan.version}'s {plan.mode} ended" if plan else "no shadow or canary ran")
        else:
            plan = read_plan()
            print(plan.line() if plan else "none: only the live version answers")
    except (VersionError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
