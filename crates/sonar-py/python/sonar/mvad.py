"""``sonar.mvad.MultivariateAnomalyDetector``: a drop-in for
``anomaly_detector.MultivariateAnomalyDetector`` (time-series-anomaly-detector 0.4.0) on the
Rust engine, without torch or mlflow.

Same calls and result rows::

    from sonar.mvad import MultivariateAnomalyDetector
    model = MultivariateAnomalyDetector()
    model.fit(train_df, params={"sliding_window": 200})
    rows = model.predict(None, test_df, params={"sliding_window": 200})
    # [{"index", "is_anomaly", "score", "severity",
    #   "interpretation": [{"variable_name", "contribution_score", "correlation_changes"}]}]

Parameters keep the reference's names (``sliding_window``, ``fill_na_method``,
``fill_na_value``, ``epochs``, ``batch_size``, ``lr``, ``seed``, ``interval``, ``level``,
``train_ratio``, ``val_ratio``, ``device``, ``save``, ...). SONAR's improvements are on by
default: early stopping (``early_stopping_patience`` 5, ``early_stopping_min_delta`` 0.01,
``early_stopping_smoothing`` 3), a partial last batch
(``keep_partial_batch``), sampled validation (``max_validation_windows``) and standardised
scoring (``scoring``); ``"preset": "reference"`` turns every one of them off (the reference's
behaviour, which the golden fixtures check), and each key can also be set alone. Predict-time
keys: ``threshold_rule`` (``"lagged"``, the reference's, or ``"trailing"``) and
``align_columns`` (missing columns as 0, extra ones dropped; off: a mismatch raises
ColumnMismatchError). Differences from the reference, on purpose: an unknown key raises
InvalidParameterError instead of being dropped; predict checks that the columns are the trained
ones; ``save`` is written only when given (the reference always wrote ``./model``); each
interpretation item also has ``observed`` and ``expected`` (the forecast, in data units).
Fit and predict release the GIL.
"""

import json
import os

from sonar import _native
from sonar._table import to_table

_PREDICT_ONLY = ("threshold_rule", "align_columns")


class MultivariateAnomalyDetector:
    """The reference's detector API on SONAR's engine; also ``save(dir)`` and ``load(dir)``."""

    def __init__(self):
        self._native = _native.NativeDetector()
        self.training_summary = None

    # -- the reference's API -------------------------------------------------------------
    def fit(self, data, params=None, progress=None):
        """Trains on a DataFrame (rows = time steps, columns = variables, index = time
        labels). ``progress``: optional ``f(epoch, epochs, train_loss, val_loss, improved, train_seconds, val_seconds)``."""
        params = dict(params or {})
        save = params.pop("save", None)
        for key in _PREDICT_ONLY:
            params.pop(key, None)
        table = to_table(data, positional=True, sort=True)
        summary = self._native.fit(
            table.labels, table.columns, table.values, json.dumps(params), progress
        )
        self.training_summary = json.loads(summary).get("training")
        if save is not None:
            self.save(save)

    def predict(self, context, data, params=None):
        """One dict per row after the first ``W + TW - 1`` (the reference's rows).
        ``context`` is the mlflow slot and is ignored, as in the reference."""
        params = dict(params or {})
        params.pop("save", None)
        table = to_table(data, positional=True, sort=True)
        rows = json.loads(
            self._native.predict(table.labels, table.columns, table.values, json.dumps(params))
        )
        for row in rows:
            row["index"] = table.original[int(row["index"])]
            del row["local_threshold"]  # the reference's rows have exactly its five keys
        return rows

    # -- model files -------------------------------------------------------------------------
    def save(self, dir):  # noqa: A002 (the reference's word)
        """Writes ``model.safetensors`` and ``model_meta.json`` into ``dir``."""
        self._native.save(os.fspath(dir))

    @classmethod
    def load(cls, dir):  # noqa: A002
        """A detector from a model directory: ours, or one exported from the reference
        library (``model.safetensors`` + ``model_meta.json``, as in the golden fixtures)."""
        detector = cls()
        detector._native.load(os.fspath(dir))
        return detector

    # -- the reference's attributes --------------------------------------------------------
    def _meta(self):
        meta = self._native.meta()
        return json.loads(meta) if meta is not None else None

    @property
    def threshold(self):
        meta = self._meta()
        return meta["threshold"] if meta else None

    @property
    def variables(self):
        meta = self._meta()
        return meta["variables"] if meta else None

    @property
    def pct_weight(self):
        meta = self._meta()
        return meta["pct_weight"] if meta else None

    @property
    def config(self):
        """The trained model's metadata (``input_size``, ``threshold_window``,
        ``normalize_base``, ``params``, ...) as a dict."""
        return self._meta()


__all__ = ["MultivariateAnomalyDetector"]
