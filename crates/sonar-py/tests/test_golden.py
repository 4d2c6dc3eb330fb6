"""Conformance through Python: the reference-exported models of the golden fixtures
(crates/sonar-mvad/tests/golden, from time-series-anomaly-detector 0.4.0) load through
`sonar.mvad.MultivariateAnomalyDetector.load` and score their predict files like the
reference, within the fixtures' tolerances (the ones crates/sonar-mvad/tests/it/golden.rs
applies to the Rust engine)."""

import csv
import json
import math

import pandas as pd
import pytest
from conftest import GOLDEN

from sonar.mvad import MultivariateAnomalyDetector

# pandas < 3 parses floats exactly only when asked (3 always does, and warns about the option).
ROUND_TRIP = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}

CASES = ["alerts10", "edge_names_nans", "fill_previous", "sines3", "sines3_e15"]


def predict_files(case):
    files = [("predict.csv", "expected_predict.json")]
    if (GOLDEN / case / "predict_100.csv").exists():
        files.append(("predict_100.csv", "expected_predict_100.json"))
    return files


def read_dict_table(path):
    """The CSV as a dict of columns (no pandas)."""
    with open(path) as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    table = {"timestamp": [r[0] for r in body]}
    for j, name in enumerate(header[1:], start=1):
        table[name] = [float(r[j]) if r[j] != "" else math.nan for r in body]
    return table


@pytest.mark.parametrize("case", CASES)
def test_reference_models_score_like_the_reference(case):
    d = GOLDEN / case
    params = json.loads((d / "params.json").read_text())
    pre = json.loads((d / "expected_preprocess.json").read_text())
    detector = MultivariateAnomalyDetector.load(d)
    assert detector.variables == pre["variables_sorted"]
    for csv_name, expected_name in predict_files(case):
        expected = json.loads((d / expected_name).read_text())
        data = pd.read_csv(d / csv_name, index_col="timestamp", **ROUND_TRIP)
        got = detector.predict(None, data, dict(params))
        borderline = {str(x) if not isinstance(x, dict) else x["index"]
                      for x in pre["predict"][csv_name]["borderline_rows"]} if "predict" in pre and csv_name in pre["predict"] else set()
        assert len(got) == len(expected), f"{case}/{csv_name}"
        for e, g in zip(expected, got):
            assert g["index"] == e["index"]
            assert abs(g["score"] - e["score"]) <= 1e-5, f"{case} {e['index']}: {g['score']} vs {e['score']}"
            assert abs(g["severity"] - e["severity"]) <= 1e-5
            if e["index"] not in borderline:
                assert g["is_anomaly"] == e["is_anomaly"], f"{case} {e['index']}"
            assert {i["variable_name"] for i in g["interpretation"]} == set(pre["variables_sorted"])
            assert set(g) == {"index", "is_anomaly", "score", "severity", "interpretation"}
        # Without pandas (a dict of columns) the scores are the same, bit for bit.
        plain = detector.predict(None, read_dict_table(d / csv_name), dict(params))
        assert [r["score"] for r in plain] == [r["score"] for r in got]
        assert [r["is_anomaly"] for r in plain] == [r["is_anomaly"] for r in got]
