"""``MVADPostProcessor``: result rows → the CLI's Wazuh anomaly documents (``sonar.pipeline``).

Only anomalous rows become documents, each with every field of the original document plus
SONAR's (``top_contributors`` with observed and expected values, ``event``, ``scenario``,
``model``); consecutive anomalous buckets form one event. Ids are deterministic (scenario +
bucket), so ``WazuhIndexerClient.index_anomaly`` never stores one twice.
"""

import datetime as _dt
import json

from sonar import _native
from sonar._table import iso
from sonar.config import native_settings


class MVADPostProcessor:
    """``MVADPostProcessor(cfg.features)``."""

    def __init__(self, cfg):
        self._settings = native_settings(cfg)

    def build_wazuh_anomaly_docs(self, timestamps=None, results=None, context=None):
        """Documents of the anomalous ``results`` (``MVADModelEngine.predict``'s rows, or the
        reference's). ``timestamps`` label rows without an ``index``; ``context`` may give
        ``scenario_id``, ``scenario_name``, ``lookback_minutes``, ``threshold``,
        ``model_path``, ``feature_names``, ``training_samples`` (see
        ``MVADModelEngine.document_context()``)."""
        rows = []
        for i, row in enumerate(results or []):
            row = dict(row)
            if row.get("index") is None and timestamps is not None:
                row["index"] = timestamps[i]
            if isinstance(row.get("index"), _dt.datetime):
                row["index"] = iso(row["index"])
            rows.append(row)
        docs = _native.build_anomaly_docs(
            self._settings, json.dumps(rows, default=str), json.dumps(context or {}, default=str)
        )
        return json.loads(docs)


__all__ = ["MVADPostProcessor"]
