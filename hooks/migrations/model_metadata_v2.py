"""Migration to model.json layout 2 (0.2.0), in place; runs on every `copier update`.

0.2.0 names what the model predicts (target.label, shown next to every prediction),
records the layout version, and checks the model file against its sha256 at start-up.
A model trained with 0.1.x keeps working after `copier update` without retraining:
this adds those entries from the project's answers and the model file as it is now.

Copier runs it after every update (a `_migrations` entry without a version: the template
has no release tags). It finds its work by reading each model.json's layout version
(`metadata_version`, 1 when absent), at the top of models/ (a project trained before
model versions) or in models/versions/<id>/, and leaves a file at layout 2 as it is, so
a second run changes nothing.
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


def model_cards(project):
    """Every model.json in the project: models/ itself, then each version's folder."""
    models = project / "models"
    top = [models / "model.json"] if (models / "model.json").exists() else []
    return top + sorted(models.glob("versions/*/model.json"))


def upgrade(path, answers):
    """-> True if this model.json was at layout 1 and is now at layout 2."""
    metadata = json.loads(path.read_text(encoding="utf-8"))
    if metadata.get("metadata_version", 1) >= 2:
        return False
    label = target_label(answers)
    metadata["target"]["label"] = label
    metadata["target"]["name"] = safe_names([label])[0]
    model_file = path.parent / metadata.get("model_file", "model.pkl")
    if model_file.exists():
        digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
        metadata["sha256"] = {model_file.name: digest}
    metadata = {"metadata_version": 2, **metadata}
    path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return True


def migrate(project):
    """-> the model.json files upgraded (relative paths); empty when there was nothing to do."""
    cards = model_cards(project)
    if not cards:
        return []
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    return [path.relative_to(project).as_posix() for path in cards if upgrade(path, answers)]


if __name__ == "__main__":
    for name in migrate(Path.cwd()):
        print(f"migrated {name} to layout 2 (target label, file hash); no retraining needed")
    sys.exit(0)
