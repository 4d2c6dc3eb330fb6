"""A full round trip against osmem-server, the loopback OpenSearch of the Rust integration
tests, loaded with the Wazuh 4.x index template and the demo alerts: check_connection,
search_alerts (every page), features, train, save, load, predict, documents, index_anomaly
(once per bucket), dry run with payload files."""

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from conftest import REPO, TEMPLATE, read_ndjson

from sonar.config import PipelineConfig
from sonar.engine import MVADModelEngine
from sonar.errors import IndexerError
from sonar.features import WazuhFeatureBuilder
from sonar.pipeline import MVADPostProcessor
from sonar.wazuh_client import WazuhIndexerClient

ALERTS_INDEX = "wazuh-alerts-4.x-2024.05.01"


def load_wazuh_template(osmem):
    if not TEMPLATE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{TEMPLATE} is missing")
        return False
    legacy = json.loads(TEMPLATE.read_text())
    composable = {
        "index_patterns": legacy["index_patterns"],
        "template": {"settings": legacy["settings"], "mappings": legacy["mappings"]},
        "priority": 1,
    }
    osmem.request("PUT", "/_index_template/wazuh", composable)
    return True


def t(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_search_features_train_predict_documents_index(osmem, tmp_path):
    templated = load_wazuh_template(osmem)
    training = read_ndjson(REPO / "demo/security_training.ndjson")
    detection = read_ndjson(REPO / "demo/security_detection.ndjson")
    osmem.bulk_index(ALERTS_INDEX, training + detection)
    if templated:
        mapping = osmem.request("GET", f"/{ALERTS_INDEX}/_mapping")
        props = mapping[ALERTS_INDEX]["mappings"]["properties"]
        assert props["rule"]["properties"]["groups"]["type"] == "keyword"

    cfg = PipelineConfig(
        model_path=tmp_path / "model",
        wazuh={"base_url": osmem.url, "page_size": 700},
        mvad={"sliding_window": 200, "extra_params": {"epochs": 5}},
    )
    client = WazuhIndexerClient(cfg.wazuh)
    assert client.check_connection(), client.last_check

    # Training window: the training file's days; every alert of it, across pages.
    start, split = datetime(2024, 5, 1, tzinfo=timezone.utc), datetime(2024, 5, 8, tzinfo=timezone.utc)
    alerts = client.search_alerts(start, split)
    want = [a for a in training + detection if start <= t(a["timestamp"][:-5] + "+00:00") < split]
    assert len(alerts) == len(want) > 700 * 3
    stamps = [t(a["timestamp"][:-5] + "+00:00") for a in alerts]
    assert stamps == sorted(stamps)

    fb = WazuhFeatureBuilder(cfg.features)
    ts = fb.build_timeseries(alerts, start=start, end=split)
    assert len(ts) == 7 * 24 * 12
    engine = MVADModelEngine(cfg)
    engine.train(ts)
    engine.save()

    engine2 = MVADModelEngine(cfg)
    engine2.load()
    # Detection: the detection day plus the model's W + TW - 1 buckets of context before it.
    end = datetime(2024, 5, 10, tzinfo=timezone.utc)
    context = timedelta(minutes=5 * (engine2.min_rows - 1))
    recent = client.search_alerts(split - context, end)
    recent_ts = fb.build_timeseries(recent, schema=engine2, start=split - context, end=end)
    results = engine2.predict(recent_ts)
    # Exactly the buckets of [split, end) are judged.
    assert len(results) == 2 * 24 * 12
    assert t(results[0]["index"]) == split and t(results[-1]["bucket_end"]) == end
    flagged = [r for r in results if r["is_anomaly"]]
    assert flagged, "no anomaly on the detection day (four attacks, demo/labels.json)"

    pp = MVADPostProcessor(cfg.features)
    docs = pp.build_wazuh_anomaly_docs(
        results=results, context={"lookback_minutes": 60 * 24, **engine2.document_context()}
    )
    assert len(docs) == len(flagged)
    assert {d["event"]["id"] for d in docs}  # grouped into events
    ids = [client.index_anomaly(d) for d in docs]
    osmem.request("POST", f"/{cfg.wazuh.anomalies_index}/_refresh")
    assert osmem.count(cfg.wazuh.anomalies_index) == len(set(ids)) == len(docs)
    # Writing the same documents again stores nothing new (deterministic ids).
    for d in docs[:3]:
        client.index_anomaly(d)
    osmem.request("POST", f"/{cfg.wazuh.anomalies_index}/_refresh")
    assert osmem.count(cfg.wazuh.anomalies_index) == len(docs)
    stored = osmem.request("GET", f"/{cfg.wazuh.anomalies_index}/_doc/{ids[0]}")["_source"]
    assert stored["anomaly_score"] == docs[0]["anomaly_score"]

    # A dry run writes payload files and sends nothing.
    payloads = tmp_path / "payloads"
    dry = WazuhIndexerClient(cfg.wazuh, dry_run=True, payload_dir=payloads)
    other = dict(docs[0], scenario_name="dry-run-scenario")
    dry.index_anomaly(other)
    assert any(payloads.iterdir())
    osmem.request("POST", f"/{cfg.wazuh.anomalies_index}/_refresh")
    assert osmem.count(cfg.wazuh.anomalies_index) == len(docs)


def test_an_unreachable_indexer_is_an_indexer_error(osmem, tmp_path):
    url = osmem.url
    osmem.stop()
    cfg = PipelineConfig(wazuh={"base_url": url, "max_retries": 0})
    client = WazuhIndexerClient(cfg.wazuh)
    assert not client.check_connection()
    assert "connect" in client.last_check.lower() or "tcp" in client.last_check.lower()
    with pytest.raises(IndexerError) as e:
        client.search_alerts(datetime(2024, 5, 1), datetime(2024, 5, 2))
    assert isinstance(e.value, ConnectionError)
    assert "127.0.0.1" in str(e.value)
