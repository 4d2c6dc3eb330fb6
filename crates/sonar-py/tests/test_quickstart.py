"""The seed document's Python quick start, in debug mode on the bundled demo data: the same
calls in the same order. Debug mode (as the original's) reads the local demo files whatever
the time window, so the quick start's `datetime.now()` windows work offline."""

import json
import runpy
from datetime import datetime, timedelta

from conftest import read_ndjson


def test_the_seed_quick_start_runs_in_debug_mode_on_the_demo_data(repo_cwd, tmp_path, monkeypatch):
    """crates/sonar-py/examples/quickstart.py (the README's second command) run as it is."""
    monkeypatch.setenv("SONAR_QUICKSTART_DIR", str(tmp_path))
    g = runpy.run_path(str(repo_cwd / "crates/sonar-py/examples/quickstart.py"))
    cfg, client, alerts, ts_data, engine2 = g["cfg"], g["client"], g["alerts"], g["ts_data"], g["engine2"]
    recent_ts, results, docs, ids = g["recent_ts"], g["results"], g["docs"], g["ids"]
    anomalies = tmp_path / "anomalies.jsonl"
    assert cfg.debug.enabled and (tmp_path / "model" / "model_meta.json").exists()

    demo = len(read_ndjson(repo_cwd / "demo/security_training.ndjson")) + len(
        read_ndjson(repo_cwd / "demo/security_detection.ndjson")
    )
    assert len(alerts) == demo
    assert client.check_connection()
    # A DataFrame indexed by bucket start, one row per 5-minute bucket, empty ones included.
    assert str(ts_data.index.dtype).startswith("datetime64") and str(ts_data.index.tz) == "UTC"
    assert (ts_data.index[1:] - ts_data.index[:-1]).unique().tolist() == [timedelta(minutes=5)]
    assert list(ts_data.columns) == json.loads(engine2.feature_schema)["columns"]
    assert int(ts_data["alert_count"].sum()) == demo
    # Every bucket after the model's context is scored, with the reference's keys and SONAR's.
    assert len(results) == len(recent_ts) - (engine2.min_rows - 1)
    first = results[0]
    for key in ("index", "is_anomaly", "score", "severity", "interpretation", "anomaly_score",
                "threshold", "engine_anomaly", "alert_count"):
        assert key in first, key
    assert {i["variable_name"] for i in first["interpretation"]} == set(ts_data.columns)

    # The demo's brute-force attack (demo/labels.json) is reported.
    labels = json.load(open(repo_cwd / "demo/labels.json"))
    attack = next(a for a in labels if a["name"] == "brute_force")
    a0 = datetime.strptime(attack["start"], "%Y-%m-%dT%H:%M:%S.%f%z")
    a1 = datetime.strptime(attack["end"], "%Y-%m-%dT%H:%M:%S.%f%z")
    flagged = [r for r in results if r["is_anomaly"]]
    assert any(a0 <= datetime.fromisoformat(r["index"].replace("Z", "+00:00")) < a1 for r in flagged), (
        f"brute force {a0}..{a1} not reported; flagged: {[r['index'] for r in flagged]}"
    )

    # Documents went to the debug sink: one line per anomalous bucket, never twice.
    assert len(docs) == len(flagged)
    assert all(d["rule"]["id"] == "900001" and d["is_anomaly"] for d in docs)
    assert docs[0]["feature_count"] == len(ts_data.columns)
    assert len(set(ids)) == len(ids)
    assert len(read_ndjson(anomalies)) == len(docs)
    client.index_anomaly(docs[0])
    assert len(read_ndjson(anomalies)) == len(docs)
