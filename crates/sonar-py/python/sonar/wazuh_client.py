"""``WazuhIndexerClient``: the CLI's indexer client (``sonar.wazuh_client``).

``search_alerts`` reads every page (point-in-time + ``search_after``, retries on 429/5xx);
``index_anomaly`` writes through the CLI's sink, so ``dry_run``, ``print_payloads`` and
``payload_dir`` behave as the CLI flags (payload files, secrets redacted). In debug mode the
client reads the bundled local alert files and writes anomalies to the debug JSONL file:
nothing is sent anywhere.
"""

import datetime as _dt
import json
import logging
import os

from sonar import _native
from sonar._table import iso
from sonar.config import native_settings

log = logging.getLogger("sonar")


def _when(t):
    if isinstance(t, str):
        return t
    if isinstance(t, _dt.datetime):
        return iso(t)
    raise TypeError(f"expected a datetime or an ISO 8601 string, not {type(t).__name__}")


def _jsonable(value):
    """The original's "safe JSON serialisation": times as ISO text, other objects as str."""
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


class WazuhIndexerClient:
    """``WazuhIndexerClient(cfg.wazuh, print_payloads=False, dry_run=False, payload_dir=None)``."""

    def __init__(self, cfg, print_payloads=None, dry_run=None, payload_dir=None):
        settings = native_settings(cfg).with_payloads(
            print_payloads, dry_run, os.fspath(payload_dir) if payload_dir is not None else None
        )
        self._native = _native.NativeClient(settings, payload_dir is not None)
        self.last_check = None

    def check_connection(self):
        """True when the cluster answers and is healthy (``sonar check``'s steps). The reason
        for a failure is logged and kept in ``last_check``."""
        ok, message = self._native.check_connection()
        self.last_check = message
        (log.info if ok else log.warning)("connection check: %s", message)
        return ok

    def search_alerts(self, start, end, query=None):
        """Every alert with ``start <= timestamp < end`` (datetimes or ISO 8601 text; naive
        times are UTC), oldest first, as a list of dicts. ``query``: an OpenSearch query
        fragment every alert must match (``bool.must``)."""
        text = self._native.search_alerts(
            _when(start), _when(end), json.dumps(query) if query is not None else None
        )
        return json.loads(text)

    def index_anomaly(self, doc):
        """Writes one anomaly document (from ``MVADPostProcessor``) and returns its ``_id``
        (deterministic: scenario + bucket, so a second write of it stores nothing new)."""
        return self._native.index_anomaly(json.dumps(doc, default=_jsonable))

    @property
    def destination(self):
        """Where ``index_anomaly`` writes."""
        return self._native.destination()


__all__ = ["WazuhIndexerClient"]
