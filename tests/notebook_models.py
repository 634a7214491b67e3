"""Makes models the way course notebooks save them: the ground truth for the notebook import.

    python tests/notebook_models.py OUTDIR [SHAPE ...]    # all shapes when none is named
    python tests/notebook_models.py --list                # the shapes, one line each

Run it in its own process, so the test process never imports these objects. For each shape
it writes OUTDIR/<shape>/ with

- the model file(s), saved exactly as the notebook saves them, under the notebook's names;
- sample.csv: the notebook's data frame (``df.to_csv(index=False)``), gaps kept;
- check.json: the copier answers for the folder, whether the import must serve or refuse,
  and 10-20 rows with the notebook's own predictions (and probabilities) for them,
  computed the way the notebook calls its model on new rows;

and OUTDIR/shapes.json with every shape's check.json. One function per shape, written as the
notebook writes it; its docstring is the one-line description (also check.json's "notes").
Everything is deterministic: the data are bundled with scikit-learn or palmerpenguins, or
generated here from a fixed seed.
"""

import io
import json
import pickle
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

SHAPES = {}


def shape(function):
    SHAPES[function.__name__] = function
    return function


# --- data the notebooks start from ---------------------------------------------------------


def penguins():
    from palmerpenguins import load_penguins

    return load_penguins()  # island and sex are categories; gaps in sex and the numbers


def churn_style(df):
    """The churn course's clean-up: lower-case column names and string values, spaces -> _."""
    df = df.copy()
    df.columns = df.columns.str.lower().str.replace(" ", "_")
    for column in df.columns[df.dtypes == "str"]:
        df[column] = df[column].str.lower().str.replace(" ", "_")
    return df


def sklearn_frame(name, target="target"):
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    df = bunch.frame
    if target != "target":  # class names instead of 0, 1, 2
        df = df.drop(columns="target")
        df[target] = bunch.target_names[bunch.target]
    return df


POSITIVE = [
    "works perfectly",
    "great value for money",
    "I love it",
    "excellent quality",
    "highly recommend it",
    "arrived quickly and well packed",
    "very comfortable",
    "sturdy and well made",
    "exceeded my expectations",
    "does exactly what it says",
    "easy to set up",
    "my family loves it",
]
NEGATIVE = [
    "stopped working after a week",
    "a waste of money",
    "very disappointed",
    "broke the first time I used it",
    "poor quality",
    "would not buy it again",
    "arrived damaged",
    "far too noisy",
    "cheap and flimsy",
    "customer service never answered",
    "returned it",
    "the worst purchase this year",
]
NEUTRAL = [
    "I bought it for my kitchen",
    "the box was blue",
    "it came on a Tuesday",
    "my brother has the same one",
    "I use it every morning",
    "it replaced an older model",
    "the manual is in three languages",
    "bought it as a gift",
]
PRODUCTS = {"headphones": 59.0, "kettle": 35.0, "desk lamp": 28.0, "backpack": 45.0}


def reviews(n, seed):
    """Short product reviews built from phrase lists: review, product, price (with gaps), label."""
    rng = random.Random(seed)
    records = []
    for index in range(n):
        label = "positive" if index % 2 == 0 else "negative"
        mine, theirs = (POSITIVE, NEGATIVE) if label == "positive" else (NEGATIVE, POSITIVE)
        product = rng.choice(list(PRODUCTS))
        parts = rng.sample(mine, rng.randint(1, 3)) + rng.sample(NEUTRAL, rng.randint(0, 2))
        rng.shuffle(parts)
        if len(parts) > 2 and rng.random() < 0.25:  # a mixed review: one phrase the other way
            parts.append("but " + rng.choice(theirs))
        if rng.random() < 0.5:
            parts.insert(0, f"The {product}")
        text = ", ".join(parts) + rng.choice([".", "!", "", "..."])
        price = round(PRODUCTS[product] * rng.uniform(0.7, 1.4), 2)
        records.append(
            {
                "review": text[0].upper() + text[1:],
                "product": product,
                "price": None if rng.random() < 0.1 else price,
                "sentiment": label,
            }
        )
    return pd.DataFrame(records)


# --- rows to score and the check.json --------------------------------------------------------


def pick_rows(df, features, target, n=15, gaps=(), seed=0):
    """n rows of df's features (classes in turn when there is a target), some fields emptied.

    gaps: columns to leave empty in one row each (in turn): only columns the model handles
    gaps in, that have gaps in the sample. Returns JSON-ready dicts and their true targets.
    """
    if target and df[target].nunique() <= 10:  # a class: take the classes in turn
        groups = [g.sample(frac=1, random_state=seed) for _, g in df.groupby(target, sort=True)]
        picked = pd.concat([g.iloc[[i]] for i in range(n) for g in groups if i < len(g)])
        picked = picked.head(n)
    else:
        picked = df.sample(n, random_state=seed)
    rows = [
        {column: json_value(row[column]) for column in features} for _, row in picked.iterrows()
    ]
    for index, column in enumerate(gaps):
        rows[1 + 3 * index][column] = None
    truth = [json_value(value) for value in picked[target]] if target else None
    return rows, truth


def read_sample(sample_csv):
    """The sample as pandas reads it: a CSV, or Excel's ';'-separated one with decimal commas."""
    header = Path(sample_csv).read_text(encoding="utf-8-sig").splitlines()[0]
    if "," not in header and ";" in header:
        return pd.read_csv(sample_csv, sep=";", decimal=",", encoding="utf-8-sig")
    return pd.read_csv(sample_csv)


def frame_as_read(rows, sample_csv):
    """The rows as pandas reads them from a CSV like the sample: the sample's dtypes, NaN gaps."""
    dtypes = read_sample(sample_csv).dtypes
    text = pd.DataFrame(rows).to_csv(index=False)
    types = {c: "float64" if dtypes[c].kind in "iu" else dtypes[c] for c in rows[0]}
    frame = pd.read_csv(io.StringIO(text), dtype=types)
    for column in frame.columns:  # an integer column without gaps stays an integer column
        if dtypes[column].kind in "iu" and frame[column].notna().all():
            frame[column] = frame[column].astype(dtypes[column])
    return frame


def json_value(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def json_list(values):
    return [json_value(v) for v in np.asarray(values, dtype=object).tolist()]


def answers(model_path, target, task="classification"):
    return {
        "model_path": model_path,
        "sample_data_path": "sample.csv",
        "target_column": target,
        "task": task,
    }


def serve(answers, rows, truth, predictions, probabilities=None, classes=None, text_columns=()):
    """check.json for a model the import must serve; fails when the fixture itself is weak.

    A classifier without predict_proba (SVC, LinearSVC, ...) has probabilities=None: the
    service must answer with the class alone.
    """
    predictions = json_list(predictions)
    assert 10 <= len(rows) <= 20 and len(predictions) == len(rows)
    if answers["task"] == "classification":
        classes = json_list(classes)
        assert set(predictions) <= set(classes)
        assert len(set(predictions)) > 1, f"every row predicts {predictions[0]!r}"
        score = sum(p == t for p, t in zip(predictions, truth, strict=True)) / len(rows)
        assert score >= 0.8, f"accuracy {score:.2f} on the rows"
        if probabilities is not None:
            probabilities = np.asarray(probabilities, dtype=float)
            assert probabilities.shape == (len(rows), len(classes))
            probabilities = probabilities.tolist()
    else:
        predictions = [float(p) for p in predictions]
        assert np.std(predictions) > 0, "every row predicts the same number"
        score = float(np.corrcoef(predictions, truth)[0, 1])
        assert score >= 0.6, f"correlation {score:.2f} with the truth on the rows"
    return {
        "answers": answers,
        "expect": "serve",
        "rows": rows,
        "predictions": predictions,
        "probabilities": probabilities,
        "classes": classes,
        "text_columns": list(text_columns),
        "truth": truth,
        "score_on_rows": round(score, 3),
    }


def refuse(answers, refusal):
    """check.json for files the import must refuse with one line matching `refusal`."""
    return {
        "answers": answers,
        "expect": "refuse",
        "refusal": refusal,
        "rows": [],
        "predictions": [],
        "probabilities": None,
        "classes": None,
        "text_columns": [],
    }


# --- the shapes: one notebook each --------------------------------------------------------------

CATEGORICAL = ["island", "sex"]
NUMERICAL = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def churn_penguins(target):
    """The churn notebook's data on penguins: clean-up, dropna, 0/1 target like churn."""
    df = churn_style(penguins()).dropna().reset_index(drop=True)
    if target == "adelie":
        df["adelie"] = (df.species == "adelie").astype(int)
        del df["species"]
    return df


def fit_dv(df, target):
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    dicts = df[CATEGORICAL + NUMERICAL].to_dict(orient="records")
    dv = DictVectorizer(sparse=False)
    X = dv.fit_transform(dicts)
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(X, df[target].values)
    return dv, model


def serve_dv(dv, model, df, target, model_path):
    rows, truth = pick_rows(df, CATEGORICAL + NUMERICAL, target)
    X = dv.transform(rows)
    return serve(
        answers(model_path, target),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def dv_tuple(folder):
    """Churn course: DictVectorizer + LogisticRegression, pickle.dump((dv, model)) to
    model_C=1.0.bin; a 0/1 target."""
    df = churn_penguins("adelie")
    df.to_csv(folder / "sample.csv", index=False)  # has 'year': the notebook did not use it
    dv, model = fit_dv(df, "adelie")
    with open(folder / "model_C=1.0.bin", "wb") as f_out:
        pickle.dump((dv, model), f_out)
    return serve_dv(dv, model, df, "adelie", "model_C=1.0.bin")


@shape
def dv_two_files(folder):
    """DictVectorizer and LogisticRegression pickled separately to dv.bin and model.bin;
    species names."""
    df = churn_penguins("species")
    df.to_csv(folder / "sample.csv", index=False)
    dv, model = fit_dv(df, "species")
    with open(folder / "dv.bin", "wb") as f_out:
        pickle.dump(dv, f_out)
    with open(folder / "model.bin", "wb") as f_out:
        pickle.dump(model, f_out)
    return serve_dv(dv, model, df, "species", ["dv.bin", "model.bin"])


@shape
def dv_folder(folder):
    """dv.bin and model.bin pickled separately into a folder model/, given as the folder."""
    df = churn_penguins("species")
    df.to_csv(folder / "sample.csv", index=False)
    dv, model = fit_dv(df, "species")
    (folder / "model").mkdir()
    with open(folder / "model" / "dv.bin", "wb") as f_out:
        pickle.dump(dv, f_out)
    with open(folder / "model" / "model.bin", "wb") as f_out:
        pickle.dump(model, f_out)
    return serve_dv(dv, model, df, "species", "model")


@shape
def dv_dict(folder):
    """DictVectorizer + LogisticRegression pickled as a dict {"dv", "model", "C"} to
    model.bin; a 0/1 target."""
    df = churn_penguins("adelie")
    df.to_csv(folder / "sample.csv", index=False)
    dv, model = fit_dv(df, "adelie")
    with open(folder / "model.bin", "wb") as f_out:
        pickle.dump({"dv": dv, "model": model, "C": 1.0}, f_out)
    return serve_dv(dv, model, df, "adelie", "model.bin")


@shape
def tfidf_two_joblib(folder):
    """Sentiment: TfidfVectorizer and LogisticRegression, joblib.dump to vectorizer.joblib
    and model.joblib."""
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    df = reviews(300, seed=1)[["review", "sentiment"]]
    df.to_csv(folder / "sample.csv", index=False)
    vectorizer = TfidfVectorizer()
    X = vectorizer.fit_transform(df["review"])
    model = LogisticRegression(random_state=0)
    model.fit(X, df["sentiment"])
    joblib.dump(vectorizer, folder / "vectorizer.joblib")
    joblib.dump(model, folder / "model.joblib")

    rows, truth = pick_rows(reviews(40, seed=2), ["review"], "sentiment", n=14)
    X = vectorizer.transform([row["review"] for row in rows])
    return serve(
        answers(["vectorizer.joblib", "model.joblib"], "sentiment"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
        text_columns=["review"],
    )


@shape
def tfidf_pipeline_pkl(folder):
    """Pipeline(TfidfVectorizer, LogisticRegression) fitted on df["review"] (a Series),
    joblib.dump to model.pkl."""
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    df = reviews(300, seed=3)[["review", "sentiment"]]
    df.to_csv(folder / "sample.csv", index=False)
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression(random_state=0))])
    pipeline.fit(df["review"], df["sentiment"])  # a Series: no feature_names_in_
    joblib.dump(pipeline, folder / "model.pkl")  # a joblib file with a .pkl name

    rows, truth = pick_rows(reviews(40, seed=4), ["review"], "sentiment", n=14)
    texts = [row["review"] for row in rows]
    return serve(
        answers("model.pkl", "sentiment"),
        rows,
        truth,
        pipeline.predict(texts),
        pipeline.predict_proba(texts),
        pipeline.classes_,
        text_columns=["review"],
    )


@shape
def mixed_columns(folder):
    """ColumnTransformer(TF-IDF on the review, one-hot product, imputed and scaled price with
    gaps) + LogisticRegression, pickled."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = reviews(300, seed=5)
    df.to_csv(folder / "sample.csv", index=False)
    preprocess = ColumnTransformer(
        [
            ("text", TfidfVectorizer(), "review"),
            ("product", OneHotEncoder(handle_unknown="ignore"), ["product"]),
            ("price", make_pipeline(SimpleImputer(), StandardScaler()), ["price"]),
        ]
    )
    model = Pipeline([("preprocess", preprocess), ("clf", LogisticRegression(random_state=0))])
    features = ["review", "product", "price"]
    model.fit(df[features], df["sentiment"])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    rows, truth = pick_rows(
        reviews(40, seed=6), features, "sentiment", n=14, gaps=["price", "price"]
    )
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("model.pkl", "sentiment"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
        text_columns=["review"],
    )


@shape
def xgb_classifier(folder):
    """XGBClassifier on the penguin measurements, NaN left in, species coded 0/1/2; the model
    pickled alone."""
    from xgboost import XGBClassifier

    df = penguins()
    df["species"] = df["species"].map({"Adelie": 0, "Chinstrap": 1, "Gentoo": 2})
    df.to_csv(folder / "sample.csv", index=False)
    features = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    model = XGBClassifier(n_estimators=50, max_depth=3, random_state=0, n_jobs=1)
    model.fit(df[features], df["species"])  # XGBoost handles the gaps itself
    with open(folder / "xgb_model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    rows, truth = pick_rows(df, features, "species", gaps=["bill_depth_mm", "body_mass_g"])
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("xgb_model.pkl", "species"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def xgb_train_booster(folder):
    """XGBoost course: DictVectorizer + xgb.train(binary:logistic) on a DMatrix with the
    vectorizer's feature names, pickle.dump((dv, model)) to model.bin; a 0/1 target."""
    import xgboost as xgb

    df = churn_penguins("adelie")
    dv = fit_dv(df, "adelie")[0]
    X = dv.transform(df[CATEGORICAL + NUMERICAL].to_dict(orient="records"))
    features = list(dv.get_feature_names_out())
    dtrain = xgb.DMatrix(X, label=df["adelie"], feature_names=features)
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": 1}
    model = xgb.train(params, dtrain, num_boost_round=20)
    with open(folder / "model.bin", "wb") as f_out:
        pickle.dump((dv, model), f_out)

    df.to_csv(folder / "sample.csv", index=False)
    rows, truth = pick_rows(df, CATEGORICAL + NUMERICAL, "adelie")
    dicts = [{k: v for k, v in row.items() if v is not None} for row in rows]
    probability = model.predict(xgb.DMatrix(dv.transform(dicts), feature_names=features))
    return serve(
        answers("model.bin", "adelie"),
        rows,
        truth,
        (probability > 0.5).astype(int),
        np.column_stack([1 - probability, probability]),
        [0, 1],
    )


@shape
def lgbm_train_booster(folder):
    """lightgbm.train(objective regression) on the diabetes DataFrame, the Booster pickled
    to model.pkl; regression."""
    import lightgbm as lgb

    df = sklearn_frame("diabetes")
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="target"), df["target"]
    params = {"objective": "regression", "num_leaves": 15, "verbose": -1, "seed": 1}
    model = lgb.train(params, lgb.Dataset(X, y), num_boost_round=50)
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    rows, truth = pick_rows(df, list(X.columns), "target")
    predictions = model.predict(frame_as_read(rows, folder / "sample.csv"))
    return serve(answers("model.pkl", "target", task="regression"), rows, truth, predictions)


@shape
def xgb_label_encoder(folder):
    """Pipeline(one-hot island, XGBClassifier) on species coded by a LabelEncoder:
    pickle.dump((pipeline, le))."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import LabelEncoder, OneHotEncoder
    from xgboost import XGBClassifier

    df = penguins()
    df.to_csv(folder / "sample.csv", index=False)
    features = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    le = LabelEncoder()
    y = le.fit_transform(df["species"])  # XGBoost wants classes 0..n-1
    encode = ColumnTransformer(
        [("island", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["island"])],
        remainder="passthrough",
    )
    pipeline = make_pipeline(encode, XGBClassifier(n_estimators=50, random_state=0, n_jobs=1))
    pipeline.fit(df[features], y)
    with open(folder / "penguins_xgb.pkl", "wb") as f_out:
        pickle.dump((pipeline, le), f_out)

    rows, truth = pick_rows(df, features, "species", gaps=["flipper_length_mm"])
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("penguins_xgb.pkl", "species"),
        rows,
        truth,
        le.inverse_transform(pipeline.predict(X)),
        pipeline.predict_proba(X),
        le.classes_,
    )


@shape
def lgbm_regressor(folder):
    """LGBMRegressor on the diabetes DataFrame, joblib.dump to model.joblib; regression."""
    import joblib
    from lightgbm import LGBMRegressor

    df = sklearn_frame("diabetes").sample(200, random_state=0)
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="target"), df["target"]
    model = LGBMRegressor(n_estimators=100, learning_rate=0.05, random_state=0, verbose=-1)
    model.fit(X, y)
    joblib.dump(model, folder / "model.joblib")

    rows, truth = pick_rows(df, list(X.columns), "target", n=20)
    return serve(
        answers("model.joblib", "target", "regression"),
        rows,
        truth,
        model.predict(frame_as_read(rows, folder / "sample.csv")),
    )


def penguin_pipeline(encode_categories, classifier):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    preprocess = ColumnTransformer(
        [("cat", encode_categories, CATEGORICAL), ("num", SimpleImputer(), NUMERICAL)]
    )
    return Pipeline([("preprocess", preprocess), ("model", classifier)])


def serve_penguin_pipeline(folder, df, model, model_path):
    rows, truth = pick_rows(
        df, CATEGORICAL + NUMERICAL, "species", gaps=["sex", "bill_length_mm", "sex"]
    )
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers(model_path, "species"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def onehot_default(folder):
    """Pipeline(OneHotEncoder() + SimpleImputer(), RandomForestClassifier) on penguins with
    gaps: the default encoder saw NaN sex, so NaN is a category."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import OneHotEncoder

    df = penguins()
    df.to_csv(folder / "sample.csv", index=False)
    model = penguin_pipeline(
        OneHotEncoder(), RandomForestClassifier(n_estimators=50, random_state=0)
    )
    model.fit(df[CATEGORICAL + NUMERICAL], df["species"])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)
    return serve_penguin_pipeline(folder, df, model, "model.pkl")


@shape
def onehot_ignore(folder):
    """Pipeline(most-frequent imputer + OneHotEncoder(handle_unknown="ignore"), SimpleImputer,
    GradientBoostingClassifier) on penguins with gaps."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = penguins()
    df.to_csv(folder / "sample.csv", index=False)
    categories = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    model = penguin_pipeline(categories, GradientBoostingClassifier(random_state=0))
    model.fit(df[CATEGORICAL + NUMERICAL], df["species"])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)
    return serve_penguin_pipeline(folder, df, model, "model.pkl")


@shape
def raw_file_spellings(folder):
    """Pipeline(OneHotEncoder on sex, zip and smoker, LogisticRegression) fitted on a file
    read as written: ", " between values (" Male", target " >50K"), zip codes read as text
    ("02134"), smoker True/False; pandas reads the sample as "Male", 2134 and booleans."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    n = 400
    raw = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "sex": rng.choice(["Male", "Female"], n),
            "zip": rng.choice(["02134", "02139", "10001", "94105"], n),
        }
    )
    rich = (raw["sex"] == "Male") & (raw["age"] > 40) | raw["zip"].str.startswith("0")
    raw["income"] = np.where(rich, ">50K", "<=50K")
    text = raw.to_csv(index=False).replace(",", ", ")  # the file the course hands out
    df = pd.read_csv(io.StringIO(text), dtype={" zip": str})
    df["smoker"] = rng.random(n) < 0.3
    features = ["age", " sex", " zip", "smoker"]
    encode = ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore"), [" sex", " zip", "smoker"])],
        remainder="passthrough",
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=1000))
    model.fit(df[features], df[" income"])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)
    df.to_csv(folder / "sample.csv", index=False)

    rows, truth = pick_rows(df, features, " income", n=16)
    X = pd.DataFrame(rows).astype(df[features].dtypes.to_dict())
    return serve(
        answers("model.pkl", "income"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def grid_search(folder):
    """GridSearchCV(Pipeline(StandardScaler, LogisticRegression), cv=3) on wine; the search
    object itself pickled."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    df = sklearn_frame("wine")
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="target"), df["target"]
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))])
    search = GridSearchCV(pipeline, {"clf__C": [0.01, 0.1, 1.0, 10.0]}, cv=3)
    search.fit(X, y)
    with open(folder / "grid_search.pkl", "wb") as f_out:
        pickle.dump(search, f_out)

    rows, truth = pick_rows(df, list(X.columns), "target")
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("grid_search.pkl", "target"),
        rows,
        truth,
        search.predict(X),
        search.predict_proba(X),
        search.classes_,
    )


def iris_forest():
    """RandomForestClassifier fitted on iris as numpy arrays: no feature names."""
    from sklearn.ensemble import RandomForestClassifier

    df = sklearn_frame("iris", target="species")
    X = df.drop(columns="species").values
    y = df["species"].values
    model = RandomForestClassifier(n_estimators=50, random_state=0)
    model.fit(X, y)
    return df, model


@shape
def numpy_array(folder):
    """RandomForestClassifier fitted on iris X as a numpy array (no feature names); the
    sample has the columns in that order."""
    df, model = iris_forest()
    df.to_csv(folder / "sample.csv", index=False)
    with open(folder / "rf_iris.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    columns = list(df.columns[:-1])
    rows, truth = pick_rows(df, columns, "species")
    X = np.array([[row[column] for column in columns] for row in rows])
    return serve(
        answers("rf_iris.pkl", "species"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def numpy_sample_with_index(folder):
    """The numpy-fitted iris forest; the sample written with df.to_csv("sample.csv"),
    without index=False: its first column is the index, with no header."""
    df, model = iris_forest()
    df.sample(frac=1, random_state=0).to_csv(folder / "sample.csv")  # the index, shuffled
    with open(folder / "rf_iris.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    columns = list(df.columns[:-1])
    rows, truth = pick_rows(df, columns, "species")
    X = np.array([[row[column] for column in columns] for row in rows])
    return serve(
        answers("rf_iris.pkl", "species"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def excel_sample(folder):
    """Pipeline(OneHotEncoder + SimpleImputer, RandomForestClassifier) on penguins; the sample
    saved as European Excel does: ';' between values, decimal commas, a BOM, CRLF lines."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import OneHotEncoder

    df = penguins()
    encoder = OneHotEncoder(handle_unknown="ignore")
    model = penguin_pipeline(encoder, RandomForestClassifier(n_estimators=30, random_state=0))
    model.fit(df[CATEGORICAL + NUMERICAL], df["species"])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)
    df.to_csv(
        folder / "sample.csv",
        sep=";",
        decimal=",",
        index=False,
        encoding="utf-8-sig",
        lineterminator="\r\n",
    )
    return serve_penguin_pipeline(folder, df, model, "model.pkl")


@shape
def numpy_wrong_order(folder):
    """The numpy-fitted iris forest with a sample whose columns are in another order: refuse."""
    df, model = iris_forest()
    df = df[list(reversed(df.columns[:-1])) + ["species"]]
    df.to_csv(folder / "sample.csv", index=False)
    with open(folder / "rf_iris.pkl", "wb") as f_out:
        pickle.dump(model, f_out)
    accuracy = (model.predict(df.drop(columns="species").values) == df["species"]).mean()
    assert accuracy < 0.6, f"the reversed columns still score {accuracy:.2f}: nothing to notice"
    return refuse(answers("rf_iris.pkl", "species"), r"(?i)order")


@shape
def formatted_numbers(folder):
    """LogisticRegression on wine fitted after cleaning; the sample is the raw export, its
    proline written "1,065" and its alcohol "14.2%": refuse, naming those columns."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = sklearn_frame("wine")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(df.drop(columns="target"), df["target"])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)
    raw = df.assign(
        proline=df["proline"].map("{:,.0f}".format), alcohol=df["alcohol"].map("{}%".format)
    )
    raw.to_csv(folder / "sample.csv", index=False)
    return refuse(answers("model.pkl", "target"), r"alcohol, proline hold numbers written as text")


@shape
def regressor_as_classification(folder):
    """Ridge on the diabetes DataFrame, imported with the default task=classification: refuse."""
    from sklearn.linear_model import Ridge

    df = sklearn_frame("diabetes").sample(200, random_state=0)
    df.to_csv(folder / "sample.csv", index=False)
    model = Ridge(alpha=1.0).fit(df.drop(columns="target"), df["target"])
    with open(folder / "ridge.pkl", "wb") as f_out:
        pickle.dump(model, f_out)
    return refuse(answers("ridge.pkl", "target", "classification"), r"(?i)regress")


@shape
def iris_int_target(folder):
    """LogisticRegression on the iris DataFrame with the target as 0/1/2 integers."""
    from sklearn.linear_model import LogisticRegression

    df = sklearn_frame("iris")
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="target"), df["target"]
    model = LogisticRegression(max_iter=1000).fit(X, y)
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    rows, truth = pick_rows(df, list(X.columns), "target")
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("model.pkl", "target"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def cloudpickle_lambda(folder):
    """Pipeline(FunctionTransformer(lambda), LogisticRegression) on iris, cloudpickle.dump
    to model.pkl."""
    import cloudpickle
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    df = sklearn_frame("iris", target="species")
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="species"), df["species"]
    model = Pipeline(
        [
            ("to_float", FunctionTransformer(lambda X: X * 1.0)),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    model.fit(X, y)
    with open(folder / "model.pkl", "wb") as f_out:
        cloudpickle.dump(model, f_out)  # plain pickle cannot save the lambda

    rows, truth = pick_rows(df, list(X.columns), "species")
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("model.pkl", "species"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def onnx_classifier(folder):
    """skl2onnx.to_onnx of a StandardScaler + LogisticRegression fitted on wine as a numpy
    array, written to model.onnx; the notebook predicts with onnxruntime."""
    import onnxruntime
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = sklearn_frame("wine", target="cultivar")
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="cultivar"), df["cultivar"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X.to_numpy(dtype=np.float32), y)
    onx = to_onnx(model, X.to_numpy(dtype=np.float32)[:1], target_opset=18)
    (folder / "model.onnx").write_bytes(onx.SerializeToString())

    rows, truth = pick_rows(df, list(X.columns), "cultivar")
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    matrix = frame_as_read(rows, folder / "sample.csv").to_numpy(dtype=np.float32)
    labels, probabilities = session.run(None, {session.get_inputs()[0].name: matrix})
    classes = sorted(probabilities[0])
    return serve(
        answers("model.onnx", "cultivar"),
        rows,
        truth,
        labels,
        [[row[c] for c in classes] for row in probabilities],
        classes,
    )


@shape
def skops_pipeline(folder):
    """Pipeline(StandardScaler, LogisticRegression) on breast_cancer, skops.io.dump to
    model.skops."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = sklearn_frame("breast_cancer").sample(200, random_state=0)
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="target"), df["target"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    sio.dump(model, folder / "model.skops")

    rows, truth = pick_rows(df, list(X.columns), "target", n=14)
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("model.skops", "target"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def only_a_vectorizer(folder):
    """Only the fitted DictVectorizer pickled to dv.bin, the model forgotten: refuse."""
    from sklearn.feature_extraction import DictVectorizer

    df = churn_penguins("adelie")
    df.to_csv(folder / "sample.csv", index=False)
    dv = DictVectorizer(sparse=False)
    dv.fit(df[CATEGORICAL + NUMERICAL].to_dict(orient="records"))
    with open(folder / "dv.bin", "wb") as f_out:
        pickle.dump(dv, f_out)
    return refuse(answers("dv.bin", "adelie"), r"(?i)no model|preprocessor|vectori[sz]er")


@shape
def not_a_model(folder):
    """The data CSV given as the model file: refuse."""
    df = penguins()
    df.to_csv(folder / "sample.csv", index=False)
    df.to_csv(folder / "penguins.csv", index=False)
    return refuse(answers("penguins.csv", "species"), r"(?i)csv|not a (pickle|model)|file type")


@shape
def svc_without_probabilities(folder):
    """Pipeline(StandardScaler, SVC()) on iris: SVC without probability=True has no
    predict_proba, so the service answers with the class alone."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    df = sklearn_frame("iris", target="species")
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="species"), df["species"]
    model = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    with open(folder / "svc.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    rows, truth = pick_rows(df, list(X.columns), "species")
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(answers("svc.pkl", "species"), rows, truth, model.predict(X), None, model.classes_)


@shape
def svc_probability(folder):
    """Pipeline(StandardScaler, SVC(probability=True)) on breast cancer, labels "benign" and
    "malignant", joblib.dump to model.sav: its predict reads the decision function, so for
    some rows the class is not the likelier one; the service must answer predict's class."""
    import joblib
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    df = sklearn_frame("breast_cancer").iloc[:, list(range(10)) + [-1]]
    df["label"] = np.where(df.pop("target") == 1, "benign", "malignant")
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="label"), df["label"]
    model = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)).fit(X, y)
    joblib.dump(model, folder / "model.sav")

    predicted = model.predict(X)
    likeliest = model.classes_[model.predict_proba(X).argmax(axis=1)]
    differ = np.flatnonzero(predicted != likeliest)
    assert len(differ) >= 2, "the fixture needs rows where predict is not the likelier class"
    right = (predicted == y) & (predicted == likeliest)
    others = df[right].sample(12, random_state=0)
    picked = pd.concat([df.iloc[differ[:3]], others])
    rows, truth = pick_rows(picked, list(X.columns), "label", n=len(picked))
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("model.sav", "label"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def label_encoded_inputs(folder):
    """A LabelEncoder for each category input, pickled with the model as
    {"model": ..., "encoders": {column: encoder}}: the service cannot apply them: refuse."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import LabelEncoder

    df = penguins().dropna().reset_index(drop=True)[["island", "sex", "bill_length_mm", "species"]]
    df.to_csv(folder / "sample.csv", index=False)
    encoders, X = {}, df.drop(columns="species").copy()
    for column in ("island", "sex"):
        encoders[column] = LabelEncoder().fit(X[column])
        X[column] = encoders[column].transform(X[column])
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, df["species"])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump({"model": model, "encoders": encoders}, f_out)
    return refuse(answers("model.pkl", "species"), r"LabelEncoders.*OrdinalEncoder")


@shape
def bool_target(folder):
    """RandomForestClassifier on the penguin measurements, the target True/False
    (df["is_adelie"] = df.species == "Adelie")."""
    from sklearn.ensemble import RandomForestClassifier

    df = penguins().dropna().reset_index(drop=True)
    df["is_adelie"] = df["species"] == "Adelie"
    df = df.drop(columns="species")
    df.to_csv(folder / "sample.csv", index=False)
    model = RandomForestClassifier(n_estimators=50, random_state=0)
    model.fit(df[NUMERICAL], df["is_adelie"])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    rows, truth = pick_rows(df, NUMERICAL, "is_adelie")
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("model.pkl", "is_adelie"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def lgbm_category_dtype(folder):
    """LGBMClassifier on penguins with island and sex as pandas 'category' columns (which
    LightGBM reads as categories itself), gaps kept; the CSV sample has them as text."""
    from lightgbm import LGBMClassifier

    df = penguins()
    df.to_csv(folder / "sample.csv", index=False)
    X = df[CATEGORICAL + NUMERICAL].astype({"island": "category", "sex": "category"})
    model = LGBMClassifier(n_estimators=50, random_state=0, verbose=-1)
    model.fit(X, df["species"])
    with open(folder / "lgbm.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    rows, truth = pick_rows(df, CATEGORICAL + NUMERICAL, "species", gaps=["sex", "bill_length_mm"])
    new = frame_as_read(rows, folder / "sample.csv")
    for column in CATEGORICAL:  # the notebook gives new rows the training frame's types
        new[column] = pd.Categorical(new[column], categories=X[column].cat.categories)
    return serve(
        answers("lgbm.pkl", "species"),
        rows,
        truth,
        model.predict(new),
        model.predict_proba(new),
        model.classes_,
    )


@shape
def onehot_bool_column(folder):
    """Pipeline(ColumnTransformer(OneHotEncoder on island and a True/False column "male",
    StandardScaler on the rest), LogisticRegression) on penguins."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = penguins().dropna().reset_index(drop=True)
    df["male"] = df["sex"] == "male"
    features = ["island", "male", "bill_length_mm", "bill_depth_mm"]
    df = df[[*features, "species"]]
    df.to_csv(folder / "sample.csv", index=False)
    encode = ColumnTransformer(
        [("words", OneHotEncoder(handle_unknown="ignore"), ["island", "male"])],
        remainder=StandardScaler(),
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=2000))
    model.fit(df[features], df["species"])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    rows, truth = pick_rows(df, features, "species")
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("model.pkl", "species"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


def titanic(n=400, seed=0):
    """A Titanic-like table: Pclass 1-3 (numbers), Sex, Age and Embarked with gaps, Fare."""
    rng = np.random.default_rng(seed)
    pclass = rng.choice([1, 2, 3], n, p=[0.25, 0.2, 0.55])
    sex = rng.choice(["male", "female"], n, p=[0.6, 0.4])
    age = rng.normal(30, 12, n).clip(1, 75).round()
    age[rng.random(n) < 0.2] = np.nan
    embarked = rng.choice(["S", "C", "Q"], n, p=[0.7, 0.2, 0.1]).astype(object)
    embarked[rng.random(n) < 0.02] = np.nan
    fare = (rng.gamma(2, 10, n) * (4 - pclass)).round(2)
    logit = 5 * (sex == "female") - 2.5 * (pclass - 2.5) - 0.03 * (np.nan_to_num(age, nan=30) - 30)
    survived = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    columns = {"Pclass": pclass, "Sex": sex, "Age": age, "Fare": fare, "Embarked": embarked}
    return pd.DataFrame({"PassengerId": np.arange(1, n + 1), "Survived": survived, **columns})


@shape
def titanic_number_categories(folder):
    """Titanic: OneHotEncoder on Pclass (the numbers 1, 2, 3), Sex and Embarked (imputed),
    median-imputed Age and Fare, RandomForestClassifier; a 0/1 target."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = titanic()
    df.to_csv(folder / "sample.csv", index=False)
    features = ["Pclass", "Sex", "Age", "Fare", "Embarked"]
    categories = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    preprocess = ColumnTransformer(
        [
            ("cat", categories, ["Pclass", "Sex", "Embarked"]),
            ("num", SimpleImputer(strategy="median"), ["Age", "Fare"]),
        ]
    )
    model = Pipeline(
        [("pre", preprocess), ("clf", RandomForestClassifier(max_depth=4, random_state=0))]
    )
    model.fit(df[features], df["Survived"])
    with open(folder / "titanic.pkl", "wb") as f_out:
        pickle.dump(model, f_out)

    rows, truth = pick_rows(df, features, "Survived", gaps=["Age", "Embarked"])
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("titanic.pkl", "Survived"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def pickle_protocol_0(folder):
    """LogisticRegression on iris, pickle.dump(model, f, protocol=0): a text pickle with no
    header, as old tutorials wrote."""
    from sklearn.linear_model import LogisticRegression

    df = sklearn_frame("iris", target="species")
    df.to_csv(folder / "sample.csv", index=False)
    X, y = df.drop(columns="species"), df["species"]
    model = LogisticRegression(max_iter=1000).fit(X, y)
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out, protocol=0)

    rows, truth = pick_rows(df, list(X.columns), "species")
    X = frame_as_read(rows, folder / "sample.csv")
    return serve(
        answers("model.pkl", "species"),
        rows,
        truth,
        model.predict(X),
        model.predict_proba(X),
        model.classes_,
    )


@shape
def kmeans_clusters(folder):
    """KMeans(n_clusters=3) fitted on the iris measurements, imported as a classifier of
    species: refuse (clusters are not a prediction of the target)."""
    from sklearn.cluster import KMeans

    df = sklearn_frame("iris", target="species")
    df.to_csv(folder / "sample.csv", index=False)
    model = KMeans(n_clusters=3, n_init=10, random_state=0).fit(df.drop(columns="species"))
    with open(folder / "kmeans.pkl", "wb") as f_out:
        pickle.dump(model, f_out)
    return refuse(answers("kmeans.pkl", "species"), r"KMeans.*cluster")


@shape
def multi_output(folder):
    """MultiOutputClassifier(RandomForestClassifier) fitted on species and island at once:
    refuse (the service predicts one target)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.multioutput import MultiOutputClassifier

    df = penguins().dropna().reset_index(drop=True)
    df.to_csv(folder / "sample.csv", index=False)
    model = MultiOutputClassifier(RandomForestClassifier(n_estimators=20, random_state=0))
    model.fit(df[NUMERICAL], df[["species", "island"]])
    with open(folder / "model.pkl", "wb") as f_out:
        pickle.dump(model, f_out)
    return refuse(answers("model.pkl", "species"), r"several target columns")


HELPERS = '''
"""A notebook's own helpers: the pickle refers to this module by name."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Log1pTransformer(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.log1p(X)
'''


@shape
def missing_library(folder):
    """Pipeline with a transformer from the notebook's own module my_notebook_helpers,
    since deleted: refuse."""
    import importlib

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    df = sklearn_frame("iris", target="species")
    df.to_csv(folder / "sample.csv", index=False)
    helpers = Path(tempfile.mkdtemp())
    (helpers / "my_notebook_helpers.py").write_text(textwrap.dedent(HELPERS))
    sys.path.insert(0, str(helpers))
    try:
        my_notebook_helpers = importlib.import_module("my_notebook_helpers")
        model = make_pipeline(
            my_notebook_helpers.Log1pTransformer(), LogisticRegression(max_iter=1000)
        )
        model.fit(df.drop(columns="species"), df["species"])
        with open(folder / "model.pkl", "wb") as f_out:
            pickle.dump(model, f_out)
    finally:
        sys.path.remove(str(helpers))
        sys.modules.pop("my_notebook_helpers", None)
        shutil.rmtree(helpers)

    load = "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))"
    result = subprocess.run(
        [sys.executable, "-c", load, str(folder / "model.pkl")],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
    )
    assert "No module named 'my_notebook_helpers'" in result.stderr, result.stderr
    return refuse(answers("model.pkl", "species"), r"my_notebook_helpers")


# --- running ---------------------------------------------------------------------------------


def describe(function):
    """The docstring's first paragraph on one line."""
    return " ".join(function.__doc__.strip().split("\n\n")[0].split())


def main(argv):
    if argv[:1] == ["--list"]:
        for name, function in SHAPES.items():
            print(f"{name:28} {describe(function)}")
        return 0
    if not argv or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    outdir, names = Path(argv[0]), argv[1:] or list(SHAPES)
    unknown = [name for name in names if name not in SHAPES]
    if unknown:
        print(f"unknown shape(s) {', '.join(unknown)}; known: {', '.join(SHAPES)}", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", message=".*(converge|feature names).*")
    everything = {}
    for name in names:
        started = time.perf_counter()
        folder = outdir / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        check = SHAPES[name](folder)
        check["notes"] = describe(SHAPES[name])
        sample = read_sample(folder / "sample.csv")
        for row in check["rows"]:  # an empty field only where the sample has gaps too
            empty = [column for column, value in row.items() if value is None]
            assert sample[empty].isna().any().all(), f"{name}: {empty} have no gaps in the sample"
        (folder / "check.json").write_text(json.dumps(check, indent=1, ensure_ascii=False) + "\n")
        everything[name] = check
        score = f"score {check['score_on_rows']:.3f}" if check["expect"] == "serve" else ""
        seconds = time.perf_counter() - started
        print(f"{name:28} {check['expect']:7} {score:12} {seconds:5.2f}s")
    text = json.dumps(everything, indent=1, ensure_ascii=False)
    (outdir / "shapes.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
