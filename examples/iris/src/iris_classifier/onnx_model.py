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

    final_step = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    # Plain probability arrays, not one dictionary per row.
    options = {id(final_step): {"zipmap": False}} if classification else None
    onnx = to_onnx(
        estimator,
        initial_types=[("X", FloatTensorType([None, n_inputs]))],
        options=options,
        target_opset=18,
    )
    return onnx.SerializeToString()


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
