"""The seed document's Python quick start, in debug mode: trains on the bundled demo alerts,
scores them, and writes the anomaly documents to a local JSONL file. Nothing is sent anywhere.

    python crates/sonar-py/examples/quickstart.py      # from the repository root

Outputs go under sonar-debug/quickstart/ (or $SONAR_QUICKSTART_DIR). Debug mode reads the demo
files whatever the time window, so the seed's `datetime.now()` windows work offline.
"""

import os
from datetime import datetime, timedelta, timezone

from sonar.config import PipelineConfig
from sonar.engine import MVADModelEngine
from sonar.features import WazuhFeatureBuilder
from sonar.pipeline import MVADPostProcessor
from sonar.wazuh_client import WazuhIndexerClient

out = os.environ.get("SONAR_QUICKSTART_DIR", "sonar-debug/quickstart")

# Load configuration (config/default_config.yaml), in debug mode
cfg = PipelineConfig(
    model_path=os.path.join(out, "model"),
    debug={"enabled": True, "anomalies_file": os.path.abspath(os.path.join(out, "anomalies.jsonl"))},
)

# Connect to Wazuh (debug mode: the bundled demo files)
client = WazuhIndexerClient(cfg.wazuh)

# Fetch 24 hours of alerts
end = datetime.now(timezone.utc)
start = end - timedelta(hours=24)
alerts = client.search_alerts(start, end)

# Build time series features
fb = WazuhFeatureBuilder(cfg.features)
ts_data = fb.build_timeseries(alerts)

# Train model
engine = MVADModelEngine(cfg)
engine.train(ts_data)
engine.save()

# Later: load model and detect
engine2 = MVADModelEngine(cfg)
engine2.load()
recent_alerts = client.search_alerts(end - timedelta(minutes=10), end)
recent_ts = fb.build_timeseries(recent_alerts)
results = engine2.predict(recent_ts)

# Anomaly documents, written once each (debug mode: to the local JSONL file)
pp = MVADPostProcessor(cfg.features)
docs = pp.build_wazuh_anomaly_docs(
    timestamps=recent_ts.index.to_list() if hasattr(recent_ts, "index") else None,
    results=results,
    context={"lookback_minutes": 10, **engine2.document_context()},
)
ids = [client.index_anomaly(doc) for doc in docs]

if __name__ == "__main__":
    print(f"{len(alerts)} alerts -> {len(ts_data)} buckets; {len(results)} scored, {len(docs)} anomalous")
    for r in results:
        if r["is_anomaly"]:
            top = r["interpretation"][0]
            print(f"  {r['index']}  anomaly_score {r['anomaly_score']:.4f}  top {top['variable_name']}")
    print(f"model: {cfg.model_path}; anomalies: {client.destination}")
