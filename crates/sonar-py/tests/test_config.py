"""PipelineConfig: the CLI's loading and validation, errors as exceptions naming file and key,
secrets never readable, and the engine's errors (missing model, column mismatch)."""

import pytest

from sonar.config import FeatureConfig, PipelineConfig, WazuhIndexerConfig
from sonar.engine import MVADModelEngine
from sonar.errors import ColumnMismatchError, ConfigError, ModelNotFoundError, NotEnoughDataError
from sonar.features import WazuhFeatureBuilder


def test_the_default_config_file_and_keyword_sections(repo_cwd, monkeypatch):
    monkeypatch.setenv("SONAR_WAZUH_PASSWORD", "s3cret-value")
    cfg = PipelineConfig()
    assert cfg.wazuh.base_url == "https://localhost:9200/"
    assert cfg.wazuh.verify_ssl is True
    assert cfg.features.numeric_fields == ["rule.level"] and cfg.features.bucket_minutes == 5
    assert cfg.debug.training_data_file.endswith("demo/security_training.ndjson")
    # The password comes from the environment, as for the CLI, and is never exposed.
    assert cfg.wazuh.password_set and cfg.wazuh.password_origin == "Environment"
    assert "s3cret-value" not in repr(cfg) + repr(cfg.wazuh) + str(cfg.wazuh.to_dict())
    with pytest.raises(AttributeError):
        cfg.wazuh.password  # noqa: B018
    other = PipelineConfig(features={"bucket_minutes": 10, "numeric_fields": ["data.x"]})
    assert other.features.bucket_minutes == 10 and other.features.numeric_fields == ["data.x"]
    assert other.features.derived_features is True  # the rest of the file's section stays
    assert FeatureConfig(bucket_minutes=15).bucket_minutes == 15
    assert WazuhIndexerConfig(base_url="http://127.0.0.1:9").base_url == "http://127.0.0.1:9/"


def test_a_bad_config_value_is_a_config_error_naming_the_key(repo_cwd, tmp_path):
    with pytest.raises(ConfigError, match="features.bucket_minutes") as e:
        PipelineConfig(features={"bucket_minutes": "often"})
    assert isinstance(e.value, ValueError)
    with pytest.raises(ConfigError, match="unknown key `features.bukcet_minutes`"):
        PipelineConfig(features={"bukcet_minutes": 5})
    bad = tmp_path / "bad.yaml"
    bad.write_text("wazuh:\n  base_url: 'https://x:9200'\nmvad:\n  sliding_window: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*mvad\.sliding_window|mvad\.sliding_window.*bad\.yaml"):
        PipelineConfig(bad)
    with pytest.raises(TypeError, match="unknown section"):
        PipelineConfig(featurez={})
    # Unknown keys in a file stay warnings (as for the CLI).
    odd = tmp_path / "odd.yaml"
    odd.write_text("features:\n  bucket_minutes: 5\n  colour: blue\n")
    assert any("unknown key `features.colour`" in w for w in PipelineConfig(odd).warnings)


def test_a_missing_model_and_a_column_mismatch_are_exceptions(repo_cwd, tmp_path):
    cfg = PipelineConfig(debug=True, model_path=tmp_path / "none")
    with pytest.raises(ModelNotFoundError, match="none") as e:
        MVADModelEngine(cfg).load()
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(ModelNotFoundError, match="train"):
        MVADModelEngine(cfg).predict({"a": [1.0]})

    import pandas as pd

    n = 700
    index = pd.date_range("2024-05-01", periods=n, freq="5min", tz="UTC")
    table = pd.DataFrame({"a": [float(i % 17) for i in range(n)], "b": [float(i % 11) for i in range(n)]},
                         index=index)
    small = PipelineConfig(debug=True, model_path=tmp_path / "m",
                           mvad={"sliding_window": 40, "extra_params": {"epochs": 1}})
    engine = MVADModelEngine(small)
    engine.train(table)
    with pytest.raises(ColumnMismatchError, match=r"missing \[\"b\"\], unexpected \[\"c\"\]"):
        engine.predict(table.rename(columns={"b": "c"}))
    with pytest.raises(NotEnoughDataError, match="at least 40"):
        engine.predict(table.iloc[:10])
    # A schema from the feature builder must match as well: alerts with another schema fail.
    fb = WazuhFeatureBuilder(small.features)
    ts = fb.build_timeseries([{"timestamp": "2024-05-01T00:00:00Z", "rule": {"level": 3}}],
                             start="2024-05-01T00:00:00Z", end="2024-05-01T05:00:00Z")
    assert len(ts) == 60 and "alert_count" in ts.columns and ts["alert_count"].sum() == 1
    with pytest.raises(ColumnMismatchError):
        engine.predict(ts)


def test_training_on_short_data_follows_the_cli(tmp_path, monkeypatch, caplog):
    """`sonar train`'s rules for too few buckets: a sliding_window no file set shrinks to what
    the rows allow (with a warning, and the model records it); a window set explicitly does
    not, and too few rows for it are NotEnoughDataError with the CLI's message."""
    import pandas as pd

    monkeypatch.chdir(tmp_path)  # no config/default_config.yaml here: the built-in defaults
    n = 150
    index = pd.date_range("2024-05-01", periods=n, freq="5min", tz="UTC")
    table = pd.DataFrame({"a": [float(i % 17) for i in range(n)], "b": [float(i % 11) for i in range(n)]},
                         index=index)
    fitted = PipelineConfig(model_path=tmp_path / "m", mvad={"extra_params": {"epochs": 1}})
    assert fitted.mvad.sliding_window == 200
    engine = MVADModelEngine(fitted)
    with caplog.at_level("WARNING", logger="sonar"):
        summary = engine.train(table)
    window = summary["sliding_window"]
    assert 28 <= window < 200 and summary["rows"] == n
    assert f"too few training buckets ({n}) for the default sliding_window 200" in caplog.text
    assert f"sliding_window {window} instead" in caplog.text
    assert engine.document_context()["sliding_window"] == window
    assert len(engine.predict(table)) == n - engine.min_rows + 1

    explicit = PipelineConfig(model_path=tmp_path / "e",
                              mvad={"sliding_window": 200, "extra_params": {"epochs": 1}})
    with pytest.raises(NotEnoughDataError, match=f"{n} buckets of 5 min, need at least .*sliding_window 200"):
        MVADModelEngine(explicit).train(table)
