"""Times the reference library (time-series-anomaly-detector 0.4.0) on the same CSVs and params
as crates/sonar-mvad/examples/mvad_run.rs and prints the same JSON keys.
Usage: python reference_timing.py TRAIN.csv PREDICT.csv PARAMS_JSON"""
import json
import os
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from anomaly_detector import MultivariateAnomalyDetector  # noqa: E402

D = MultivariateAnomalyDetector
times = {"train": [], "val": [], "thr": []}


def wrap(f, key):
    def g(*a, **kw):
        s = time.perf_counter()
        r = f(*a, **kw)
        times[key].append(time.perf_counter() - s)
        return r
    return g


D.train_epoch = wrap(D.train_epoch, "train")
D.evaluate_epoch = wrap(D.evaluate_epoch, "val")
D.compute_thresholds = wrap(D.compute_thresholds, "thr")

train = pd.read_csv(sys.argv[1], index_col="timestamp", float_precision="round_trip")
predict = pd.read_csv(sys.argv[2], index_col="timestamp", float_precision="round_trip")
params = json.loads(sys.argv[3])
params["save"] = tempfile.mkdtemp(prefix="mvad-ref-")
m = D()
s = time.perf_counter()
m.fit(train, dict(params))
fit_s = time.perf_counter() - s
epochs = len(times["train"])
s = time.perf_counter()
rows = m.predict(None, predict, dict(params))
predict_s = time.perf_counter() - s
W, TW = m.config.input_size, m.config.threshold_window
one = []
for i in range(20):
    frame = predict.iloc[i:i + W + TW]
    s = time.perf_counter()
    r = m.predict(None, frame, dict(params))
    one.append(time.perf_counter() - s)
    assert len(r) == 1
one.sort()
print(json.dumps({
    "engine": "time-series-anomaly-detector 0.4.0",
    "threads": torch.get_num_threads(),
    "epochs": epochs,
    "fit_s": fit_s,
    "train_per_epoch_s": sum(times["train"]) / epochs,
    "val_per_epoch_s": sum(times["val"]) / epochs,
    "fit_per_epoch_s": (sum(times["train"]) + sum(times["val"])) / epochs,
    "threshold_pass_s": sum(times["thr"]),
    "predict_rows_out": len(rows),
    "predict_s": predict_s,
    "predict_per_window_ms": 1e3 * predict_s / (len(predict) - W),
    "one_new_bucket_minimal_predict_ms": 1e3 * one[len(one) // 2],
    "threshold": float(m.threshold),
}))
