"""Migration for 0.2.0: models/model.json layout 1 -> 2, in place.

0.2.0 names what the model predicts (target.label, shown next to every prediction),
records the layout version, and checks the model file against its sha256 at start-up.
A model trained with 0.1.x keeps working after `copier update` without retraining:
this adds those entries from the project's answers and the model file as it is now.
Runs once, on the update that crosses 0.2.0 (copier `_migrations`).
"""

import hashlib
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from post_copy import safe_names  # noqa: E402  (the template's own column-name rule)

BUNDLED_TARGET_LABELS = {
    "iris": "species",
    "wine": "cultivar",
    "breast_cancer": "diagnosis",
    "diabetes": "disease progression after one year",
}


def target_label(answers):
    if answers.get("model_source", "train") == "train" and answers.get("dataset") != "csv":
        return BUNDLED_TARGET_LABELS.get(answers.get("dataset"), "prediction")
    return answers.get("target_column") or "prediction"


def migrate(project):
    """-> True if models/model.json was upgraded, False if there was nothing to do."""
    path = project / "models" / "model.json"
    if not path.exists():
        return False
    metadata = json.loads(path.read_text(encoding="utf-8"))
    if metadata.get("metadata_version", 1) >= 2:
        return False
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    label = target_label(answers)
    metadata["target"]["label"] = label
    metadata["target"]["name"] = safe_names([label])[0]
    model_file = project / "models" / metadata.get("model_file", "model.pkl")
    if model_file.exists():
        digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
        metadata["sha256"] = {model_file.name: digest}
    metadata = {"metadata_version": 2, **metadata}
    path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return True


if __name__ == "__main__":
    if migrate(Path.cwd()):
        print("migrated models/model.json to layout 2 (target label, file hash); no retraining")
    sys.exit(0)
