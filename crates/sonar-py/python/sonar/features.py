"""``WazuhFeatureBuilder``: alerts → the CLI's regular feature grid (``sonar.features``).

One row per bucket of ``bucket_minutes`` (epoch-aligned, empty buckets included) from the
first alert's bucket to the last one's; columns as ``docs/configuration.md`` lists them
(numeric means, ``__max``, the 13 derived flags, categorical one-hots, ``alert_count``).
The result is a DataFrame indexed by bucket start (UTC) when pandas is installed, else a
``TimeSeries`` (a dict of columns with the bucket starts under ``timestamp``). Its
``attrs["sonar_schema"]`` is the feature schema, which ``MVADModelEngine.train`` stores in
the model.
"""

import json
import logging

from sonar import _native
from sonar._table import from_table
from sonar.wazuh_client import _when
from sonar.config import native_settings

log = logging.getLogger("sonar")

#: Key of the feature schema in a table's ``attrs``.
SCHEMA_ATTR = "sonar_schema"


class TimeSeries(dict):
    """A feature table without pandas: column name → list, bucket starts under ``timestamp``."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.attrs = {}


class WazuhFeatureBuilder:
    """``WazuhFeatureBuilder(cfg.features)``."""

    def __init__(self, cfg):
        self._settings = native_settings(cfg)
        self.schema = None

    def build_timeseries(self, alerts, schema=None, start=None, end=None):
        """The feature table of ``alerts`` (a list of alert dicts). ``schema``: a trained
        model's feature schema (or the engine) to build exactly its columns; without it the
        columns come from the data (categorical values by frequency). ``start``/``end``
        (datetimes or ISO 8601): the grid's window, snapped outwards to buckets (default: the
        buckets from the first alert's to the last one's)."""
        if hasattr(schema, "feature_schema"):
            schema = schema.feature_schema
        labels, columns, values, _counts, schema_json, skipped = _native.build_timeseries(
            self._settings,
            json.dumps(alerts),
            schema,
            None if start is None else _when(start),
            None if end is None else _when(end),
        )
        if skipped:
            log.warning("%d alert(s) without a usable timestamp were skipped", skipped)
        table = from_table(labels, columns, values)
        if isinstance(table, dict):
            table = TimeSeries(table)
        table.attrs[SCHEMA_ATTR] = schema_json
        self.schema = schema_json
        return table


__all__ = ["WazuhFeatureBuilder", "TimeSeries", "SCHEMA_ATTR"]
