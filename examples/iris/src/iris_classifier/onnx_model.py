"""A faster way to run the same model: the fitted pipeline converted to ONNX.

For one row, scikit-learn spends far longer checking its input than computing (about a
millisecond against microseconds). ONNX Runtime runs the same fitted pipeline without
that overhead. Training converts the pipeline and keeps the ONNX file only when it
reproduces scikit-learn's predictions on every training and held-out row; otherwise the
service uses scikit-learn. ONNX works in 32-bit floats, so probabilities may differ from
scikit-learn's in the seventh decimal: TOLERANCE bounds what is accepted.
"""

import numpy as np

TOLERANCE = 1e-5


def convert(estimator, n_inputs, classification):
    """The pipeline as ONNX bytes; raises if skl2onnx cannot convert a step."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    register_boosters()
    if hasattr(estimator, "steps") and hasattr(estimator.steps[-1][1], "encoder_"):
        # EncodedLabels (pipeline.py): convert the booster inside; its class numbers are
        # the positions of the real labels, in the order the probabilities come in.
        from sklearn.pipeline import Pipeline

        estimator = Pipeline([*estimator.steps[:-1], ("model", estimator.steps[-1][1].estimator_)])
    final_step = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    # Plain probability arrays, not one dictionary per row.
    options = {id(final_step): {"zipmap": False}} if classification else None
    onnx = to_onnx(
        estimator,
        initial_types=[("X", FloatTensorType([None, n_inputs]))],
        options=options,
        # onnxmltools writes XGBoost and LightGBM trees in version 3 of the ML operators.
        target_opset={"": 18, "ai.onnx.ml": 3} if _is_booster(final_step) else 18,
    )
    return onnx.SerializeToString()


def _is_booster(estimator):
    return type(estimator).__module__.split(".")[0] in ("xgboost", "lightgbm")


def register_boosters():
    """Teach skl2onnx XGBoost's and LightGBM's models (onnxmltools converts them)."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor
    except ImportError:
        pass
    else:
        update_registered_converter(
            XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=classifier_options,
        )
        update_registered_converter(
            XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
        )
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:
        pass
    else:
        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options=classifier_options,
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            options={"split": None},
        )


class OnnxPredictor:
    """predict / predict_proba like a scikit-learn estimator, run by ONNX Runtime."""

    def __init__(self, onnx_bytes, classification):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread per call: the web server already runs requests side by side.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            onnx_bytes, options, providers=["CPUExecutionProvider"]
        )
        self.classification = classification
        outputs = [output.name for output in self.session.get_outputs()]
        self.output = outputs[1] if classification else outputs[0]

    def _run(self, matrix):
        return self.session.run([self.output], {"X": matrix.astype(np.float32)})[0]

    def predict_proba(self, matrix):
        return self._run(matrix).astype(float)

    def predict(self, matrix):
        return self._run(matrix).astype(float).ravel()


def difference(estimator, predictor, matrix, classification):
    """Largest disagreement on these rows; inf if any predicted class differs."""
    if classification:
        expected, got = estimator.predict_proba(matrix), predictor.predict_proba(matrix)
        if (expected.argmax(axis=1) != got.argmax(axis=1)).any():
            return float("inf")
        return float(np.abs(expected - got).max())
    expected, got = estimator.predict(matrix), predictor.predict(matrix)
    scale = max(1.0, float(np.abs(expected).max()))
    return float(np.abs(expected - got).max() / scale)
