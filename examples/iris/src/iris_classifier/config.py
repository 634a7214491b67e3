"""Your answers to the template's questions, as settings. Edit and run `make train` again."""

from pathlib import Path

PROJECT_NAME = "Iris classifier"
DESCRIPTION = "Predicts the species of an iris flower."
TASK = "classification"  # "classification" or "regression"
MODEL_SOURCE = "train"
DATASET = "iris"  # iris, wine, breast_cancer, diabetes, languages or csv
DATA_FILE = None  # scikit-learn's bundled data
TARGET_COLUMN = None
# Input columns in form order (original names); empty means all of them.
FEATURES: list[str] = []
# Override what training decided a column is (see the list `make train` prints), e.g.
# {"customer id": "category"}. Kinds: number, integer, boolean, category, text, date, and
# identifier (left out of the model and never published).
COLUMN_KINDS: dict[str, str] = {}
# "sequential" lets SequentialFeatureSelector keep the N_FEATURES most useful inputs.
FEATURE_SELECTION = "none"
N_FEATURES = None
MODEL_TYPE = "logistic_regression"
# "onnx": also save the pipeline as ONNX and serve with ONNX Runtime when it reproduces
# scikit-learn's predictions on every training and held-out row; "sklearn": serve with scikit-learn.
INFERENCE = "onnx"
MODEL_FORMAT = "pickle"  # pickle, joblib or skops
RANDOM_STATE = 42
# Monitoring: a prediction whose highest class probability is below this is "low
# confidence"; the training profile and /monitor count them (`make train` after a change).
LOW_CONFIDENCE = 0.6
# Model versions (`make versions`): a new version becomes live when its accuracy (R² for a
# regression) on the held-out rows is at most PROMOTION_TOLERANCE below the live version's.
# Else it is kept as a candidate: `make promote VERSION=<id> FORCE=1` makes it live anyway.
# One that predicts a row in over SLOWDOWN_TOLERANCE times the live version's time is made
# live, and flagged in what `make train` prints.
PROMOTION_TOLERANCE = 0.02
SLOWDOWN_TOLERANCE = 1.5
# Degree of automation (automation.py): "full" the model decides; "partial" it decides when
# its confidence is at least REVIEW_THRESHOLD and refers the rest to a person (/review);
# "assist" a person decides, shown the model's classes and probabilities; "shadow" a person
# decides and the model's answer is only recorded. AUTOMATION and REVIEW_THRESHOLD (env) win.
AUTOMATION = "full"
REVIEW_THRESHOLD = 0.8

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL_SUFFIX = {"pickle": ".pkl", "joblib": ".joblib", "skops": ".skops"}[MODEL_FORMAT]
