"""sonar.mvad.MultivariateAnomalyDetector as a drop-in: fit/predict with the reference's
parameters and rows, SONAR's improvements on by default and off with the reference preset,
save/load, errors as exceptions carrying the engine's message, and the GIL released."""

import math
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from sonar.errors import (
    ColumnMismatchError,
    InvalidParameterError,
    ModelNotFoundError,
    NotEnoughDataError,
    SonarError,
)
from sonar.mvad import MultivariateAnomalyDetector

SW = 40  # W = 20, TW = 20


def sines(n, spike_at=None, names=("cpu", "mem", "net")):
    index = pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC")
    cols = {}
    for j, name in enumerate(names):
        period = 20 + 13 * j
        cols[name] = [math.sin(2 * math.pi * i / period) + 0.05 * math.cos(7 * i + j) for i in range(n)]
    if spike_at is not None:
        cols[names[0]][spike_at] += 5.0
    return pd.DataFrame(cols, index=index)


@pytest.fixture(scope="module")
def trained():
    model = MultivariateAnomalyDetector()
    model.fit(sines(1200), {"sliding_window": SW, "epochs": 4})
    return model


def test_fit_and_predict_give_the_reference_rows(trained):
    data = sines(200, spike_at=150)
    rows = trained.predict(None, data, {"sliding_window": SW})
    assert len(rows) == len(data) - (SW - 1)
    assert [r["index"] for r in rows] == list(data.index[SW - 1:])
    for r in rows:
        assert set(r) == {"index", "is_anomaly", "score", "severity", "interpretation"}
        assert [i["variable_name"] for i in r["interpretation"]] and len(r["interpretation"]) == 3
        item = r["interpretation"][0]
        assert set(item["correlation_changes"]) == {"changed_variables", "changed_values"}
        assert abs(sum(i["contribution_score"] for i in r["interpretation"]) - 1) < 1e-6
    # The spike (and the rows whose window holds it: the default score is a 10-row mean) scores
    # highest, and `cpu` explains it.
    top = max(rows, key=lambda r: r["score"])
    assert data.index[150] <= top["index"] < data.index[150 + SW // 2 + 10]
    spike = next(r for r in rows if r["index"] == data.index[150])
    assert spike["interpretation"][0]["variable_name"] == "cpu"
    assert trained.variables == ["cpu", "mem", "net"] and trained.threshold > 0
    assert trained.training_summary["epochs_run"] <= 4


def test_unsorted_rows_and_any_index_type_are_handled_like_the_reference(trained):
    data = sines(100)
    shuffled = data.sample(frac=1.0, random_state=3)
    assert [r["score"] for r in trained.predict(None, shuffled)] == [
        r["score"] for r in trained.predict(None, data)
    ]
    by_int = data.reset_index(drop=True)
    rows = trained.predict(None, by_int)
    assert rows[0]["index"] == SW - 1 and isinstance(rows[0]["index"], int)


def test_save_and_load_give_identical_scores(trained, tmp_path):
    trained.save(tmp_path / "m")
    again = MultivariateAnomalyDetector.load(tmp_path / "m")
    data = sines(120, spike_at=90)
    assert again.predict(None, data) == trained.predict(None, data)
    assert (tmp_path / "m" / "model.safetensors").exists()
    assert (tmp_path / "m" / "model_meta.json").exists()


def test_the_reference_preset_turns_the_improvements_off(tmp_path):
    ours = MultivariateAnomalyDetector()
    ours.fit(sines(1800), {"sliding_window": SW, "epochs": 3, "save": str(tmp_path / "ours")})
    ref = MultivariateAnomalyDetector()
    ref.fit(sines(1800), {"sliding_window": SW, "epochs": 3, "preset": "reference"})
    ours_params, ref_params = ours.config["params"], ref.config["params"]
    assert ours_params["rules"]["early_stopping_patience"] == 5
    assert ref_params["rules"] == {
        "keep_partial_batch": False, "early_stopping_patience": None,
        "early_stopping_min_delta": 0.0, "early_stopping_smoothing": 1, "max_validation_windows": None
    }
    assert ref_params["scoring"] != ours_params["scoring"]
    # `save` writes the model, as the reference's checkpoint directory.
    assert MultivariateAnomalyDetector.load(tmp_path / "ours").threshold == ours.threshold
    # Each improvement also alone: the reference preset with SONAR's scoring.
    mixed = MultivariateAnomalyDetector()
    mixed.fit(sines(1800), {"sliding_window": SW, "epochs": 1, "preset": "reference", "scoring": "improved"})
    assert mixed.config["params"]["scoring"] == ours_params["scoring"]
    # The trailing threshold rule is a predict-time choice.
    data = sines(150, spike_at=120)
    lagged = ref.predict(None, data, {"threshold_rule": "lagged"})
    trailing = ref.predict(None, data, {"threshold_rule": "trailing"})
    assert [r["score"] for r in lagged] == [r["score"] for r in trailing]


def test_errors_arrive_as_exceptions_with_the_engines_message(trained, tmp_path):
    with pytest.raises(ColumnMismatchError, match=r"missing \[\"net\"\], unexpected \[\"disk\"\]") as e:
        trained.predict(None, sines(100, names=("cpu", "mem", "disk")))
    assert isinstance(e.value, ValueError) and isinstance(e.value, SonarError)
    aligned = trained.predict(None, sines(100, names=("cpu", "mem", "disk")), {"align_columns": True})
    assert len(aligned) == 100 - (SW - 1)
    with pytest.raises(NotEnoughDataError, match="30 rows given, at least 40 needed"):
        trained.predict(None, sines(30))
    with pytest.raises(InvalidParameterError, match="unknown parameter `abcd`"):
        MultivariateAnomalyDetector().fit(sines(300), {"abcd": 1})
    with pytest.raises(InvalidParameterError, match="sliding_window"):
        MultivariateAnomalyDetector().fit(sines(300), {"sliding_window": 10})
    with pytest.raises(InvalidParameterError, match="`hidden_size`"):
        MultivariateAnomalyDetector().fit(sines(300), {"hidden_size": 64})
    with pytest.raises(InvalidParameterError, match="preset"):
        MultivariateAnomalyDetector().fit(sines(300), {"preset": "fast"})
    with pytest.raises(ModelNotFoundError, match="model_meta.json") as e:
        MultivariateAnomalyDetector.load(tmp_path / "nowhere")
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(ModelNotFoundError, match="fit"):
        MultivariateAnomalyDetector().predict(None, sines(100))
    with pytest.raises(NotEnoughDataError, match="not enough data to train"):
        MultivariateAnomalyDetector().fit(sines(25), {"sliding_window": SW})


def test_fit_releases_the_gil():
    """Another Python thread runs between two epochs of a fit (with the GIL held it could
    run only inside the progress callback)."""
    epochs, ticks = [], []
    done = threading.Event()

    def progress(epoch, *_):
        epochs.append(time.perf_counter())

    def fit():
        MultivariateAnomalyDetector().fit(
            sines(1500), {"sliding_window": SW, "epochs": 3, "early_stopping_patience": None}, progress
        )
        done.set()

    worker = threading.Thread(target=fit)
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    assert len(epochs) == 3
    between = [t for t in ticks if epochs[0] < t < epochs[1]]
    assert len(between) > 5, f"{len(between)} ticks between epochs 1 and 2"


def test_importing_needs_no_torch_mlflow_or_pandas():
    code = (
        "import sys, sonar, sonar.mvad, sonar.engine, sonar.features, sonar.pipeline, "
        "sonar.wazuh_client, sonar.config\n"
        "bad = [m for m in ('torch', 'mlflow', 'pandas', 'numpy') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "from sonar.mvad import MultivariateAnomalyDetector as D\n"
        "import math\n"
        "t = {'a': [math.sin(i / 5) for i in range(400)], 'b': [math.cos(i / 7) for i in range(400)]}\n"
        "m = D(); m.fit(t, {'sliding_window': 30, 'epochs': 1})\n"
        "rows = m.predict(None, t)\n"
        "assert len(rows) == 400 - 29 and 'pandas' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
