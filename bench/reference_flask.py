"""Reference 2: the lean service a careful person writes by hand in Flask on waitress.

It loads a pickled scikit-learn model, turns the JSON object into a numpy row in a fixed
order, calls predict_proba and returns the classes with their probabilities. It checks
nothing beyond what the code needs (no field messages, no ranges, no form). Run:
MODEL=path/to/model.pkl FEATURES=a,b,c,d PORT=8001 python reference_flask.py
"""

import logging
import os
import pickle

import numpy as np
from flask import Flask, jsonify, request
from waitress import serve

with open(os.environ["MODEL"], "rb") as file:
    model = pickle.load(file)
features = os.environ["FEATURES"].split(",")
classes = [str(c) for c in model.classes_]
app = Flask(__name__)


@app.post("/predict")
def predict():
    data = request.get_json()
    row = np.array([[float(data[name]) for name in features]])
    probabilities = model.predict_proba(row)[0]
    best = int(probabilities.argmax())
    return jsonify(
        prediction=classes[best],
        probabilities=dict(zip(classes, probabilities.tolist(), strict=True)),
    )


if __name__ == "__main__":
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    serve(
        app,
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        threads=int(os.environ.get("THREADS", 4)),
    )
