"""``MVADModelEngine``: train, save, load and predict as the CLI does (``sonar.engine``).

``train`` fits the MVAD engine with the config's parameters (``mvad.sliding_window``,
``device``, ``extra_params`` over SONAR's defaults) and keeps the table's feature schema; too
few rows follow ``sonar train``'s rules (``training.min_samples``, and the small-data rule:
a ``sliding_window`` no file set shrinks to what the rows allow, with a warning);
``save``/``load`` use the model directory (``model.safetensors`` + ``model_meta.json``) at
``model_path``; ``predict`` scores like ``sonar detect``: each row after the model's
``W + TW - 1`` rows of context gets a result with the reference's keys (``index``,
``is_anomaly``, ``score``, ``severity``, ``interpretation``) and SONAR's (``anomaly_score``,
the calibrated rarity; ``threshold``; ``engine_anomaly``, the reference rule's flag;
``alert_count``; ``bucket_end``). ``is_anomaly`` is SONAR's decision (``anomaly_score >=
threshold`` inside a run of ``detection.min_consecutive`` buckets). Training and scoring
release the GIL; Ctrl+C stops training with KeyboardInterrupt.
"""

import json
import logging
import os

from sonar import _native
from sonar._table import to_table
from sonar.config import native_settings
from sonar.features import SCHEMA_ATTR

log = logging.getLogger("sonar")


def _schema_of(data):
    attrs = getattr(data, "attrs", None)
    return attrs.get(SCHEMA_ATTR) if isinstance(attrs, dict) else None


class MVADModelEngine:
    """``MVADModelEngine(cfg)`` with ``cfg`` a ``PipelineConfig``."""

    def __init__(self, cfg):
        self._native = _native.NativeEngine(native_settings(cfg))
        self.model_path = getattr(cfg, "model_path", None)
        self.training_summary = None

    def train(self, data, progress=None):
        """Fits on a feature table (``WazuhFeatureBuilder.build_timeseries``'s). ``progress``:
        optional ``f(epoch, epochs, train_loss, val_loss, improved, train_seconds, val_seconds)`` called after each epoch."""
        table = to_table(data)
        summary = self._native.train(
            table.labels, table.columns, table.values, _schema_of(data), progress
        )
        self.training_summary = json.loads(summary)
        for warning in self.training_summary["warnings"]:
            log.warning("%s", warning)
        return self.training_summary

    def save(self, path=None):
        """Writes the model directory (default: ``model_path``); returns it."""
        return self._native.save(os.fspath(path) if path is not None else None)

    def load(self, path=None):
        """Reads the model directory (default: ``model_path``); raises ModelNotFoundError."""
        return self._native.load(os.fspath(path) if path is not None else None)

    def predict(self, data):
        """One result dict per scored bucket (see the module doc)."""
        table = to_table(data)
        return json.loads(self._native.predict(table.labels, table.columns, table.values))

    @property
    def feature_schema(self):
        """The model's feature schema (JSON text), or None for a model without one."""
        return self._native.feature_schema

    @property
    def min_rows(self):
        """Rows a table needs for one result: ``W + TW`` (the first ``W + TW - 1`` are context)."""
        return self._native.min_rows

    @property
    def variables(self):
        return self._native.variables

    def document_context(self):
        """What ``MVADPostProcessor`` documents say about this model (model path, name,
        version, feature names, training samples, sliding window, bucket width)."""
        return json.loads(self._native.document_context())


__all__ = ["MVADModelEngine"]
