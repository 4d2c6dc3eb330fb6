"""Times one MVAD implementation from Python on a CSV pair, for bench/python/side_by_side.sh:
`anomaly_detector.MultivariateAnomalyDetector` (the reference, time-series-anomaly-detector
0.4.0) or `sonar.mvad.MultivariateAnomalyDetector` (SONAR's drop-in), same params, same calls.
Prints one JSON object.

    python mvad_timing.py reference|sonar TRAIN.csv PREDICT.csv PARAMS_JSON
"""

import json
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")

impl, train_csv, predict_csv, params_json = sys.argv[1:5]
t0 = time.perf_counter()
if impl == "reference":
    from anomaly_detector import MultivariateAnomalyDetector as D  # noqa: E402
else:
    from sonar.mvad import MultivariateAnomalyDetector as D  # noqa: E402
import_s = time.perf_counter() - t0
import pandas as pd  # noqa: E402

train = pd.read_csv(train_csv, index_col="timestamp", float_precision="round_trip")
predict = pd.read_csv(predict_csv, index_col="timestamp", float_precision="round_trip")
params = json.loads(params_json)
epochs = []  # (train seconds, validation seconds) per epoch

if impl == "reference":
    def timed(f, key):
        def g(*a, **kw):
            s = time.perf_counter()
            r = f(*a, **kw)
            times[key].append(time.perf_counter() - s)
            return r
        return g

    times = {"train": [], "val": []}
    D.train_epoch = timed(D.train_epoch, "train")
    D.evaluate_epoch = timed(D.evaluate_epoch, "val")
    params["save"] = tempfile.mkdtemp(prefix="mvad-ref-")
    m = D()
    s = time.perf_counter()
    m.fit(train, dict(params))
    fit_s = time.perf_counter() - s
    epochs = list(zip(times["train"], times["val"]))
    W, TW = m.config.input_size, m.config.threshold_window
else:
    # The reference's training rules, so an epoch does the same work in both.
    params["preset"] = "reference"
    m = D()
    s = time.perf_counter()
    m.fit(train, dict(params), progress=lambda e, n, tl, vl, imp, ts, vs: epochs.append((ts, vs)))
    fit_s = time.perf_counter() - s
    W, TW = m.config["input_size"], m.config["threshold_window"]

s = time.perf_counter()
rows = m.predict(None, predict, dict(params))
predict_s = time.perf_counter() - s
one = []
for i in range(20):
    frame = predict.iloc[i:i + W + TW]
    s = time.perf_counter()
    r = m.predict(None, frame, dict(params))
    one.append(time.perf_counter() - s)
    assert len(r) == 1
one.sort()
n = len(epochs)
print(json.dumps({
    "impl": impl,
    "import_s": import_s,
    "epochs": n,
    "fit_s": fit_s,
    "train_per_epoch_s": sum(e[0] for e in epochs) / n,
    "val_per_epoch_s": sum(e[1] for e in epochs) / n,
    "fit_per_epoch_s": sum(e[0] + e[1] for e in epochs) / n,
    "predict_rows_out": len(rows),
    "predict_per_window_ms": 1e3 * predict_s / (len(predict) - W),
    "one_new_bucket_minimal_predict_ms": 1e3 * one[len(one) // 2],
}))
