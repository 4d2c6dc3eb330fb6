"""Trains the reference MVAD (time-series-anomaly-detector 0.4.0) on each series that the
quality report exported and writes its score of every test row, so that the report measures
the reference with the same metric code as ours (crates/sonar-eval/src/metrics.rs).

Usage: python reference_scores.py DIR [MAX_SECONDS]

DIR holds the engine parameters of the run (`params.json`; keys the reference does not know,
such as our training rules, are dropped by the reference itself) and, per series, `<id>.train.csv` and `<id>.test.csv` (written by
`quality_report --export DIR`: a `timestamp` column of zero-padded row numbers, then the
features; the training file is exactly what our engine trains on). For each pair this writes
`<id>.reference.csv`: a header `score`, then one score per test row: the reference's own
score (mean weighted forecast error) of the window that ends at that row, the last W training
rows giving the first test rows their context (as ours). Series whose scores exist are
skipped. Series are taken round-robin over the data-set families (the id's part before
`__`), so that a time budget (MAX_SECONDS: no new series is started after it; default none)
leaves a subset balanced over families. Torch uses SONAR_REF_THREADS threads (default 1).
"""
import glob
import json
import os
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from anomaly_detector import MultivariateAnomalyDetector  # noqa: E402


def read(path):
    frame = pd.read_csv(path, dtype={"timestamp": str}, float_precision="round_trip")
    return frame.set_index("timestamp")


def main():
    directory = sys.argv[1]
    with open(os.path.join(directory, "params.json")) as f:
        params = json.load(f)
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else float("inf")
    started = time.perf_counter()
    torch.set_num_threads(int(os.environ.get("SONAR_REF_THREADS", "1")))
    families = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.train.csv"))):
        families.setdefault(os.path.basename(path).split("__")[0], []).append(path)
    queues = list(families.values())
    order = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
    for train_path in order:
        series = train_path[: -len(".train.csv")]
        out = series + ".reference.csv"
        if os.path.exists(out):
            continue
        if time.perf_counter() - started > budget:
            print(f"{os.path.basename(series)}: skipped (time budget spent)", file=sys.stderr)
            continue
        t = time.perf_counter()
        train, test = read(train_path), read(series + ".test.csv")
        p = dict(params)
        p["save"] = tempfile.mkdtemp(prefix="mvad-ref-")
        model = MultivariateAnomalyDetector()
        model.fit(train, dict(p))
        w = model.config.input_size
        # Zero-padded row numbers continue after the training rows, so the rows stay in order.
        context = train.iloc[-w:]
        frame = pd.concat([context, test])
        _, values, _ = model._process_data_and_params(frame, dict(p))
        _, scores, _, _, _, _ = model.inference(values, compute_attn=False)
        scores = np.asarray(scores, dtype=float)
        assert len(scores) == len(test), (len(scores), len(test))
        pd.DataFrame({"score": scores}).to_csv(out, index=False, float_format="%.9g")
        print(
            f"{os.path.basename(series)}: {len(train)} train, {len(test)} test rows, "
            f"{time.perf_counter() - t:.0f} s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
