"""The scikit-learn pipeline for each model type: preprocessing that fits the schema."""

from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.preprocessing import (
    FunctionTransformer,
    LabelEncoder,
    OneHotEncoder,
    StandardScaler,
)
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier

# Models that compare distances or weights need inputs on one scale; trees do not.
NEEDS_SCALING = {"logistic_regression", "linear_regression", "ridge", "svm", "knn"}


def make_estimator(model_type, task, random_state):
    classification = task == "classification"
    choices = {
        "logistic_regression": lambda: LogisticRegression(max_iter=1000),
        "linear_regression": LinearRegression,
        "ridge": Ridge,
        "decision_tree": lambda: DecisionTreeClassifier(random_state=random_state),
        "random_forest": lambda: (
            RandomForestClassifier if classification else RandomForestRegressor
        )(n_estimators=100, random_state=random_state),
        "gradient_boosting": lambda: (
            GradientBoostingClassifier if classification else GradientBoostingRegressor
        )(random_state=random_state),
        # Calibration gives an SVM class probabilities (SVC(probability=True) is deprecated).
        "svm": lambda: (
            CalibratedClassifierCV(SVC(random_state=random_state), ensemble=False)
            if classification
            else SVR()
        ),
        "knn": KNeighborsClassifier if classification else KNeighborsRegressor,
        "xgboost": lambda: make_xgboost(classification, random_state),
        "lightgbm": lambda: make_lightgbm(classification, random_state),
    }
    if model_type not in choices:
        raise ValueError(f"unknown model type {model_type!r}; choose one of {sorted(choices)}")
    return choices[model_type]()


def as_texts(column):
    """One column of the input matrix -> the list of strings a text vectorizer reads."""
    return ["" if value is None else str(value) for value in column.ravel()]


def make_text_vectorizer(n_rows):
    """TF-IDF over words and pairs of words, and over groups of 2 to 4 letters inside words,
    each with a bounded vocabulary. The letter groups still say something about a word the
    training data never had: a misspelling, another form of a known word, its language."""
    min_df = 2 if n_rows >= 50 else 1  # seen twice, when there is data enough
    settings = {"max_features": 20_000, "min_df": min_df, "sublinear_tf": True}
    return make_union(
        TfidfVectorizer(ngram_range=(1, 2), **settings),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), **settings),
    )


# XGBoost and LightGBM use every core by default. On tables of a few thousand rows the
# threads cost more than they save (ten times slower training, six times slower one-row
# predictions, far worse on a busy machine), and the web server already answers requests
# in parallel. For a table of millions of rows, set this to -1 (all cores).
BOOSTER_THREADS = 1


def make_xgboost(classification, random_state):
    """XGBoost (imported only when chosen: it is installed only then)."""
    from xgboost import XGBClassifier, XGBRegressor

    settings = {
        "n_estimators": 200,
        "max_depth": 4,
        "learning_rate": 0.1,
        "n_jobs": BOOSTER_THREADS,
    }
    if classification:
        # XGBoost only takes the classes as numbers 0, 1, 2...: EncodedLabels translates.
        return EncodedLabels(XGBClassifier(**settings, random_state=random_state))
    return XGBRegressor(**settings, random_state=random_state)


def make_lightgbm(classification, random_state):
    """LightGBM (imported only when chosen: it is installed only then)."""
    from lightgbm import LGBMClassifier, LGBMRegressor

    model = LGBMClassifier if classification else LGBMRegressor
    # verbose=-1: no line per tree; min_child_samples=5 lets small tables still split.
    return model(
        n_estimators=200,
        learning_rate=0.1,
        min_child_samples=5,
        random_state=random_state,
        n_jobs=BOOSTER_THREADS,
        verbose=-1,
    )


class EncodedLabels(ClassifierMixin, BaseEstimator):
    """A classifier that wants classes 0, 1, 2... (XGBoost) trained on any labels: they
    are encoded for fitting and predictions decoded, so classes_ holds the real labels."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y):
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        self.estimator_ = clone(self.estimator).fit(X, self.encoder_.transform(y))
        return self

    def predict(self, X):
        return self.encoder_.inverse_transform(self.estimator_.predict(X))

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)


def make_pipeline_for(schema, model_type, task, random_state, n_rows=None):
    """Impute gaps, scale numbers where the model needs it, one-hot encode categories,
    TF-IDF for each text input."""
    numeric_steps = [SimpleImputer(strategy="median")]
    if model_type in NEEDS_SCALING:
        numeric_steps.append(StandardScaler())
    numeric = [i for i, f in enumerate(schema.fields) if f.kind in ("number", "integer")]
    flags = [i for i, f in enumerate(schema.fields) if f.kind == "boolean"]
    categories = [i for i, f in enumerate(schema.fields) if f.kind == "category"]
    parts = []
    if numeric:
        parts.append(("numbers", make_pipeline(*numeric_steps), numeric))
    if flags:
        parts.append(("flags", SimpleImputer(strategy="most_frequent"), flags))
    if categories:
        encode = make_pipeline(
            SimpleImputer(strategy="most_frequent", missing_values=None),
            OneHotEncoder(handle_unknown="ignore"),
        )
        parts.append(("categories", encode, categories))
    for i, field in enumerate(schema.fields):
        if field.kind == "text":
            words = make_pipeline(FunctionTransformer(as_texts), make_text_vectorizer(n_rows or 0))
            parts.append((f"text_{field.name}", words, [i]))
    preprocess = ColumnTransformer(parts)
    return Pipeline(
        [("preprocess", preprocess), ("model", make_estimator(model_type, task, random_state))]
    )


def make_selection_pipeline(model_type, task, random_state):
    """For SequentialFeatureSelector, which hands the model any subset of columns:
    preprocessing that does not depend on column positions (categories arrive as codes)."""
    steps = [SimpleImputer(strategy="median")]
    if model_type in NEEDS_SCALING:
        steps.append(StandardScaler())
    return make_pipeline(*steps, make_estimator(model_type, task, random_state))
