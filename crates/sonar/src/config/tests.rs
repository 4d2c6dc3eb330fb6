//! Tests of the config module: every bundled file, data-driven error cases, layering, secrets.

use std::path::{Path, PathBuf};

use super::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scenario(text: &str) -> Result<Settings, Error> {
    let loaded = ScenarioFile::parse(text, Path::new("/etc/sonar/scenarios/s.yaml"))?;
    resolve(
        None,
        Some(&loaded),
        &Environment::default(),
        &Overrides::default(),
    )
}

fn config(text: &str) -> Result<Settings, Error> {
    let loaded = ConfigFile::parse(text, Path::new("/etc/sonar/config.yaml"))?;
    resolve(
        Some(&loaded),
        None,
        &Environment::default(),
        &Overrides::default(),
    )
}

/// Expects an error naming `key` whose text contains `problem`.
fn check_error(result: Result<Settings, Error>, key: &str, problem: &str) {
    match result {
        Err(Error::ConfigValue {
            key: k,
            problem: p,
            origin,
        }) => {
            assert_eq!(k, key, "key path (problem: {p})");
            assert!(p.contains(problem), "problem {p:?} lacks {problem:?}");
            assert!(!origin.is_empty());
        }
        Err(other) => panic!("expected a value error for {key}, got {other}"),
        Ok(_) => panic!("expected an error for {key}, got settings"),
    }
}

#[test]
fn every_bundled_file_validates_without_warnings() {
    let mut seen = 0;
    for dir in ["config", "scenarios"] {
        for entry in std::fs::read_dir(repo().join(dir)).expect("bundled directory") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let report = validate(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let expected = if dir == "config" {
                    FileKind::Config
                } else {
                    FileKind::Scenario
                };
                assert_eq!(report.kind, expected, "{}", path.display());
                assert!(
                    report.warnings.is_empty(),
                    "{}: {:?}",
                    path.display(),
                    report.warnings
                );
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 7, "one config and six scenarios are bundled");
}

/// First and last alert time of an NDJSON demo file.
fn span(path: &Path) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let times: Vec<_> = text
        .lines()
        .map(|line| {
            let alert: serde_json::Value = serde_json::from_str(line).expect("NDJSON line");
            let ts = alert["timestamp"].as_str().expect("timestamp").to_string();
            chrono::DateTime::parse_from_str(&ts, "%Y-%m-%dT%H:%M:%S%.3f%z")
                .expect("Wazuh timestamp")
                .with_timezone(&chrono::Utc)
        })
        .collect();
    (times[0], times[times.len() - 1])
}

#[test]
fn bundled_scenarios_fit_the_demo_data_and_contain_their_attack() {
    let labels: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("demo/labels.json")).expect("labels"),
    )
    .expect("labels JSON");
    let flags = Overrides {
        debug: true,
        ..Overrides::default()
    };
    for name in [
        "brute_force_detection",
        "lateral_movement_detection",
        "privilege_escalation_detection",
        "linux_resource_monitoring",
        "example_scenario",
    ] {
        let path = repo().join("scenarios").join(format!("{name}.yaml"));
        let loaded = ScenarioFile::load(&path).expect("scenario loads");
        let s = resolve(None, Some(&loaded), &Environment::default(), &flags).expect("resolves");
        assert!(
            s.debug.enabled && !s.shipping.enabled,
            "{name}: --debug means local only"
        );
        let bucket = chrono::Duration::minutes(i64::from(s.features.bucket_minutes));
        let (t0, t1) = span(&s.debug.training_data);
        let training_buckets = ((t1 - t0).num_minutes() / bucket.num_minutes()) as usize;
        assert!(
            training_buckets >= s.training.min_samples,
            "{name}: {training_buckets} training buckets < min_samples"
        );
        let (d0, d1) = span(&s.debug.detection_data);
        let file = s
            .debug
            .detection_data
            .file_name()
            .and_then(|f| f.to_str())
            .expect("file name");
        let expected_scenario = if name == "example_scenario" {
            "brute_force_detection"
        } else {
            name
        };
        let attacks: Vec<_> = labels
            .iter()
            .filter(|l| l["scenario"] == expected_scenario && l["file"] == file)
            .collect();
        assert!(!attacks.is_empty(), "{name}: no labelled attack in {file}");
        let first_scored = d0 + bucket * s.context_buckets() as i32;
        for attack in attacks {
            let start = chrono::DateTime::parse_from_str(
                attack["start"].as_str().expect("start"),
                "%Y-%m-%dT%H:%M:%S%.3f%z",
            )
            .expect("label time");
            assert!(
                start >= first_scored && start < d1,
                "{name}: attack {} at {start} is outside the scorable part {first_scored}..{d1}",
                attack["name"]
            );
        }
    }
}

#[test]
fn wrong_values_name_the_key_and_the_problem() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "training: {bucket_minutes: five}",
            "training.bucket_minutes",
            "expected a whole number",
        ),
        (
            "training: {bucket_minutes: 0}",
            "training.bucket_minutes",
            "between 1 and 1440",
        ),
        (
            "training: {sliding_window: -3}",
            "training.sliding_window",
            "must not be negative",
        ),
        (
            "training: {sliding_window: 27}",
            "training.sliding_window",
            "between 28 and 2880",
        ),
        (
            "training: {numeric_fields: rule.level}",
            "training.numeric_fields",
            "a list of strings",
        ),
        (
            "training: {numeric_fields: [rule.level], max_numeric_fields: [data.cpu]}",
            "training.max_numeric_fields",
            "not in numeric_fields",
        ),
        (
            "training: {device: tpu}",
            "training.device",
            "unknown device",
        ),
        (
            "training: {numeric_fields: [rule..level]}",
            "training.numeric_fields",
            "dotted field path",
        ),
        (
            "training: {min_samples: 10}",
            "training.min_samples",
            "below what MVAD needs",
        ),
        (
            "training: {synthetic_mode: sideways}",
            "training.synthetic_mode",
            "unknown mode",
        ),
        (
            "training: {synthetic_srcip: not-an-ip}",
            "training.synthetic_srcip",
            "not an IP",
        ),
        (
            "training: {extra_params: {epochs: 0}}",
            "training.extra_params.epochs",
            "must be at least 1",
        ),
        (
            "training: {extra_params: {sliding_window: 50}}",
            "training.extra_params.sliding_window",
            "directly",
        ),
        (
            "training: {alert_filter: [1, 2]}",
            "training.alert_filter",
            "a mapping",
        ),
        (
            "detection: {mode: sometimes}",
            "detection.mode",
            "historical, batch or realtime",
        ),
        (
            "detection: {threshold: 1.5}",
            "detection.threshold",
            "between 0 and 1",
        ),
        (
            "detection: {threshold: high}",
            "detection.threshold",
            "a number",
        ),
        (
            "detection: {threshold: 0.99, false_alarm_rate: 1}",
            "detection.false_alarm_rate",
            "not both",
        ),
        (
            "detection: {false_alarm_rate: 0}",
            "detection.false_alarm_rate",
            "above 0",
        ),
        (
            "detection: {min_consecutive: 0}",
            "detection.min_consecutive",
            "at least 1",
        ),
        (
            "detection: {lookback_minutes: 5124095576030432}",
            "detection.lookback_minutes",
            "at most",
        ),
        (
            "training: {lookback_hours: 5124095576030432}",
            "training.lookback_hours",
            "at most",
        ),
        (
            "detection: {threshold_rule: sideways}",
            "detection.threshold_rule",
            "`lagged` or `trailing`",
        ),
        (
            "detection: {lookback_minutes: 0}",
            "detection.lookback_minutes",
            "at least 1",
        ),
        (
            "detection: {polling_interval_seconds: 0}",
            "detection.polling_interval_seconds",
            "at least 1",
        ),
        (
            "detection: {dry_run: yes please}",
            "detection.dry_run",
            "true or false",
        ),
        ("enabled: maybe", "enabled", "true or false"),
        ("training: 12", "training", "must be a mapping"),
        (
            "wazuh: {base_url: 'not a url'}",
            "wazuh.base_url",
            "not a URL",
        ),
        ("wazuh: {base_url: 'ftp://x'}", "wazuh.base_url", "https://"),
        (
            "wazuh: {page_size: 20000}",
            "wazuh.page_size",
            "between 1 and 10000",
        ),
        (
            "wazuh: {password: a, password_file: /dev/null}",
            "wazuh.password_file",
            "not both",
        ),
        (
            "shipping: {scenario_id: 'Brute Force'}",
            "shipping.scenario_id",
            "lowercase",
        ),
        ("model_name: ../escape", "model_name", "plain file name"),
    ];
    for (yaml, key, problem) in cases {
        check_error(scenario(&format!("name: t\n{yaml}")), key, problem);
    }
    check_error(
        config("mvad: {sliding_window: 10}"),
        "mvad.sliding_window",
        "between 28",
    );
    check_error(
        config("features: {categorical_top_k: -1}"),
        "features.categorical_top_k",
        "negative",
    );
    check_error(
        config("debug: {enabled: 1}"),
        "debug.enabled",
        "true or false",
    );
    // The same keys in a config file sit under their own sections.
    let cases: &[(&str, &str, &str)] = &[
        (
            "features: {bucket_minutes: 0}",
            "features.bucket_minutes",
            "between 1 and 1440",
        ),
        (
            "features: {categorical_fields: ['.x']}",
            "features.categorical_fields",
            "dotted field path",
        ),
        (
            "features: {max_numeric_fields: [data.cpu]}",
            "features.max_numeric_fields",
            "not in numeric_fields",
        ),
        ("mvad: {device: tpu}", "mvad.device", "unknown device"),
        (
            "mvad: {extra_params: {epochs: 0}}",
            "mvad.extra_params.epochs",
            "must be at least 1",
        ),
        (
            "wazuh: {password_file: /nonexistent/pw}",
            "wazuh.password_file",
            "cannot read /nonexistent/pw",
        ),
    ];
    for (yaml, key, problem) in cases {
        check_error(config(yaml), key, problem);
    }
}

/// A value error reads `FILE: `KEY`: problem`: the file once, then the full key path.
#[test]
fn value_errors_name_the_file_once_and_the_full_key_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text, key) in [
        (
            "s1.yaml",
            "name: t\ntraining: {bucket_minutes: 0}\n",
            "`training.bucket_minutes`",
        ),
        ("c1.yaml", "mvad: {device: tpu}\n", "`mvad.device`"),
        (
            "s2.yaml",
            "name: t\ntraining: {bucket_minutes: five}\n",
            "`training.bucket_minutes`",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let message = validate(&path).expect_err(name).to_string();
        let shown = path.display().to_string();
        assert!(
            message.starts_with(&format!("{shown}: {key}: ")),
            "{message}"
        );
        assert_eq!(message.matches(name).count(), 1, "{message}");
    }
}

#[test]
fn invalid_yaml_and_missing_files_are_errors_naming_the_file() {
    let err = ScenarioFile::parse("name: [unclosed", Path::new("bad.yaml")).expect_err("bad YAML");
    assert!(
        matches!(&err, Error::ConfigSyntax { path, .. } if path == Path::new("bad.yaml")),
        "{err}"
    );
    let err = validate(Path::new("/nonexistent/scenario.yaml")).expect_err("missing file");
    assert!(
        err.to_string().contains("/nonexistent/scenario.yaml"),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_warned_about_and_ignored() {
    let loaded = ScenarioFile::parse(
        "name: t\nthreshhold: 3\ntraining: {bucket_minutes: 5, colour: red}\nwazuh: {verify_certs: false}\n",
        Path::new("s.yaml"),
    )
    .expect("parses");
    let w = &loaded.warnings;
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        w[0].contains("s.yaml") && w[0].contains("`threshhold`"),
        "{w:?}"
    );
    assert!(w[1].contains("`training.colour`"), "{w:?}");
    assert!(
        w[2].contains("`wazuh.verify_certs`") && w[2].contains("use wazuh.verify_ssl"),
        "{w:?}"
    );
    let s = resolve(
        None,
        Some(&loaded),
        &Environment::default(),
        &Overrides::default(),
    )
    .expect("resolves");
    assert!(
        s.wazuh.tls.verify,
        "the misspelt key did not turn verification off"
    );
    assert_eq!(s.warnings.len(), 3);
}

#[test]
fn null_keys_mean_not_given() {
    // The original crashed on `categorical_fields:` with only comments after it.
    let s = scenario("name: t\ntraining:\n  categorical_fields:\n  bucket_minutes: 10\n")
        .expect("valid");
    assert!(s.features.categorical_fields.is_empty());
    assert_eq!(s.features.bucket_minutes, 10);
}

#[test]
fn extra_params_warnings_and_merge() {
    let cfg = ConfigFile::parse(
        "mvad: {extra_params: {epochs: 5, seed: 1}}",
        Path::new("c.yaml"),
    )
    .expect("config");
    let sc = ScenarioFile::parse(
        "name: t\ntraining: {extra_params: {epochs: 9, learning_rate: 0.01, frobnicate: 1}}",
        Path::new("s.yaml"),
    )
    .expect("scenario");
    let s = resolve(
        Some(&cfg),
        Some(&sc),
        &Environment::default(),
        &Overrides::default(),
    )
    .expect("valid");
    assert_eq!(s.mvad.extra_params["epochs"], 9);
    assert_eq!(s.mvad.extra_params["seed"], 1);
    // Warned names are dropped, so the engine's parameters still build.
    assert!(!s.mvad.extra_params.contains_key("learning_rate"));
    assert!(!s.mvad.extra_params.contains_key("frobnicate"));
    crate::pipeline::mvad_params(&s).expect("the kept parameters build");
    // The engine's own list decides: its early-stop keys are parameters, `patience` is not.
    let early = scenario(
        "name: t\ntraining: {extra_params: {early_stopping_patience: 3, early_stopping_min_delta: 0.02, patience: 4}}",
    )
    .expect("valid");
    assert_eq!(early.mvad.extra_params["early_stopping_patience"], 3);
    assert!(!early.mvad.extra_params.contains_key("patience"));
    assert!(
        early
            .warnings
            .iter()
            .any(|w| w.contains("early_stopping_patience")),
        "{:?}",
        early.warnings
    );
    // Parameters checked together: train_ratio 0.95 is fine beside val_ratio 0.05.
    scenario("name: t\ntraining: {extra_params: {train_ratio: 0.95, val_ratio: 0.05}}")
        .expect("valid together");
    let e = scenario("name: t\ntraining: {extra_params: {train_ratio: 0.95}}")
        .expect_err("0.95 + 0.1 > 1")
        .to_string();
    assert!(e.contains("training.extra_params.train_ratio"), "{e}");
    // Without `epochs` anywhere, the project's default, not the reference library's 100.
    let plain = scenario("name: t\ntraining: {bucket_minutes: 5}").expect("valid");
    let params = crate::pipeline::mvad_params(&plain).expect("params");
    assert_eq!(params.epochs, crate::pipeline::DEFAULT_EPOCHS);
    assert_eq!(sonar_mvad::MvadParams::default().epochs, 100);
    // Likewise the subspace weight: off for alert scenarios unless their scoring names it.
    assert_eq!(params.scoring.pca_gamma, crate::pipeline::ALERT_PCA_GAMMA);
    assert_eq!(
        sonar_mvad::MvadParams::default().scoring.pca_gamma,
        sonar_mvad::score::DEFAULT_PCA_GAMMA
    );
    for (scoring, want) in [
        ("{smooth_rows: 5}", crate::pipeline::ALERT_PCA_GAMMA),
        ("improved", crate::pipeline::ALERT_PCA_GAMMA),
        ("{pca_gamma: 2}", 2.0),
    ] {
        let s = scenario(&format!(
            "name: t\ntraining: {{extra_params: {{scoring: {scoring}}}}}"
        ))
        .expect("valid");
        let p = crate::pipeline::mvad_params(&s).expect("params");
        assert_eq!(p.scoring.pca_gamma, want, "{scoring}");
    }
    let nine = scenario("name: t\ntraining: {extra_params: {epochs: 9}}").expect("valid");
    assert_eq!(
        crate::pipeline::mvad_params(&nine).expect("params").epochs,
        9
    );
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("learning_rate") && w.contains("`lr`")),
        "{:?}",
        s.warnings
    );
    assert!(
        s.warnings.iter().any(|w| w.contains("frobnicate")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn extra_params_scoring_is_checked_and_reaches_the_engine() {
    let scenario = |scoring: &str| {
        let sc = ScenarioFile::parse(
            &format!("name: t\ntraining: {{extra_params: {{scoring: {scoring}}}}}"),
            Path::new("s.yaml"),
        )
        .expect("scenario");
        resolve(
            None,
            Some(&sc),
            &Environment::default(),
            &Overrides::default(),
        )
    };
    let s = scenario("{error: standardised, recon_gamma: 1.0, smooth_rows: 10}").expect("valid");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let params = crate::pipeline::mvad_params(&s).expect("params");
    assert_eq!(params.scoring.error, sonar_mvad::ErrorKind::Standardised);
    assert_eq!(params.scoring.smooth_rows, 10);
    for (bad, says) in [
        ("{error: zscore}", "unknown variant"),
        ("{smooth_rows: 0}", "smooth_rows"),
        ("standardised", "expected"),
    ] {
        let e = scenario(bad).expect_err("refused").to_string();
        assert!(
            e.contains("extra_params.scoring") && e.contains(says),
            "{e}"
        );
    }
}

#[test]
fn layers_apply_in_order_defaults_config_scenario_env_flags() {
    let cfg = ConfigFile::parse(
        "wazuh: {base_url: 'https://cfg:9200', username: cfg, password: cfgpw}\nfeatures: {bucket_minutes: 10, numeric_fields: [a]}\nmvad: {sliding_window: 100}\n",
        Path::new("/srv/sonar/config/c.yaml"),
    )
    .expect("config");
    let none =
        resolve(None, None, &Environment::default(), &Overrides::default()).expect("defaults");
    assert_eq!(none.features.bucket_minutes, 5);
    assert_eq!(none.mvad.sliding_window.get(), 200);
    assert_eq!(none.wazuh.base_url.as_str(), "https://localhost:9200/");
    assert_eq!(none.wazuh.password_origin, SecretOrigin::BuiltInDefault);
    // 0.5 false buckets a day at 5-minute buckets.
    assert!((none.detection.threshold - (1.0 - 0.5 * 5.0 / 1440.0)).abs() < 1e-12);

    let only_cfg = resolve(
        Some(&cfg),
        None,
        &Environment::default(),
        &Overrides::default(),
    )
    .expect("config layer");
    assert_eq!(only_cfg.features.bucket_minutes, 10);
    assert_eq!(only_cfg.features.numeric_fields, vec!["a"]);
    assert_eq!(only_cfg.wazuh.username, "cfg");

    let sc = ScenarioFile::parse(
        "name: My Scenario\ntraining: {bucket_minutes: 15}\ndetection: {mode: realtime, lookback_minutes: 30}\nwazuh: {username: scen}\n",
        Path::new("s.yaml"),
    )
    .expect("scenario");
    let with_sc = resolve(
        Some(&cfg),
        Some(&sc),
        &Environment::default(),
        &Overrides::default(),
    )
    .expect("scenario layer");
    assert_eq!(with_sc.features.bucket_minutes, 15, "scenario beats config");
    assert_eq!(
        with_sc.features.numeric_fields,
        vec!["a"],
        "config applies where the scenario is silent"
    );
    assert_eq!(with_sc.mvad.sliding_window.get(), 100);
    assert_eq!(with_sc.wazuh.username, "scen");
    assert_eq!(with_sc.detection.mode, DetectionMode::Realtime);
    assert_eq!(with_sc.model_name, "my_scenario");
    assert_eq!(with_sc.model_path, PathBuf::from("models/my_scenario"));

    let env = Environment::from_pairs([
        (ENV_USERNAME.to_string(), "envuser".to_string()),
        (ENV_PASSWORD.to_string(), "envpw".to_string()),
        (ENV_URL.to_string(), "https://env:9200".to_string()),
    ]);
    let with_env = resolve(Some(&cfg), Some(&sc), &env, &Overrides::default()).expect("env layer");
    assert_eq!(with_env.wazuh.username, "envuser");
    assert_eq!(with_env.wazuh.password.expose(), "envpw");
    assert_eq!(with_env.wazuh.password_origin, SecretOrigin::Environment);
    assert_eq!(with_env.wazuh.base_url.host_str(), Some("env"));

    let flags = Overrides {
        mode: Some(DetectionMode::Batch),
        lookback_minutes: Some(90),
        lookback_hours: Some(2),
        model_name: Some("custom".into()),
        payload_dir: Some("dumps".into()),
        dry_run: true,
        ..Overrides::default()
    };
    let with_flags = resolve(Some(&cfg), Some(&sc), &env, &flags).expect("flag layer");
    assert_eq!(with_flags.detection.mode, DetectionMode::Batch);
    assert_eq!(with_flags.detection.lookback.as_secs(), 90 * 60);
    assert_eq!(with_flags.training.lookback.as_secs(), 2 * 3600);
    assert_eq!(with_flags.model_name, "custom");
    assert!(with_flags.detection.payloads.dry_run);
    assert_eq!(with_flags.detection.payloads.dir, PathBuf::from("dumps"));
}

#[test]
fn paths_are_relative_to_the_file_that_names_them() {
    let cfg = ConfigFile::parse(
        "debug: {data_dir: ../demo, training_data_file: t.ndjson}\nmodel_path: ../models/m\nwazuh: {ca_cert: certs/ca.pem}\n",
        Path::new("/srv/sonar/config/c.yaml"),
    )
    .expect("config");
    let sc = ScenarioFile::parse("name: x\ndebug: {detection_data_file: d.ndjson, anomalies_file: out/a.jsonl}\ndetection: {payload_dir: dumps}\n", Path::new("/srv/scen/x.yaml")).expect("scenario");
    let s = resolve(
        Some(&cfg),
        Some(&sc),
        &Environment::default(),
        &Overrides::default(),
    )
    .expect("valid");
    // Joined to the file's directory and normalised (no `config/..` left in messages).
    assert_eq!(
        s.debug.training_data,
        PathBuf::from("/srv/sonar/demo/t.ndjson")
    );
    assert_eq!(
        s.debug.detection_data,
        PathBuf::from("/srv/sonar/demo/d.ndjson")
    );
    assert_eq!(
        s.debug.anomalies_file,
        PathBuf::from("/srv/scen/out/a.jsonl")
    );
    assert_eq!(s.detection.payloads.dir, PathBuf::from("/srv/scen/dumps"));
    assert_eq!(
        s.wazuh.tls.ca_cert,
        Some(PathBuf::from("/srv/sonar/config/certs/ca.pem"))
    );
    assert_eq!(s.model_path, PathBuf::from("/srv/sonar/models/x"));

    // Relative files stay relative: `./` and `..` fold away lexically.
    let cfg = ConfigFile::parse(
        "model_path: ./../models/ait/../m\ndebug: {data_dir: ././demo}\n",
        Path::new("config/c.yaml"),
    )
    .expect("config");
    let flags = Overrides {
        payload_dir: Some(PathBuf::from("./out/../dumps")),
        ..Overrides::default()
    };
    let s = resolve(Some(&cfg), None, &Environment::default(), &flags).expect("valid");
    assert_eq!(s.model_path, PathBuf::from("models/m"));
    assert_eq!(
        s.debug.training_data,
        PathBuf::from("config/demo/security_training.ndjson")
    );
    assert_eq!(s.detection.payloads.dir, PathBuf::from("dumps"));
    let cfg = ConfigFile::parse("model_path: ./models/ait\n", Path::new("./c.yaml")).expect("c");
    let s = resolve(Some(&cfg), None, &Environment::default(), &flags).expect("valid");
    assert_eq!(s.model_path, PathBuf::from("models/ait"));
}

#[test]
fn secrets_never_print_and_come_from_the_password_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("pw"), "s3cret\nignored second line\n").expect("write");
    let cfg_path = dir.path().join("c.yaml");
    std::fs::write(&cfg_path, "wazuh: {password_file: pw}\n").expect("write");
    let cfg = ConfigFile::load(&cfg_path).expect("config");
    let s = resolve(
        Some(&cfg),
        None,
        &Environment::default(),
        &Overrides::default(),
    )
    .expect("valid");
    assert_eq!(s.wazuh.password.expose(), "s3cret");
    assert_eq!(s.wazuh.password_origin, SecretOrigin::PasswordFile);
    let shown = format!("{:?} {}", s.wazuh, s.wazuh.password);
    assert!(
        !shown.contains("s3cret") && shown.contains("***"),
        "{shown}"
    );

    std::fs::write(dir.path().join("pw"), "").expect("write");
    let err = resolve(
        Some(&cfg),
        None,
        &Environment::default(),
        &Overrides::default(),
    )
    .expect_err("empty file");
    assert!(err.to_string().contains("is empty"), "{err}");
}

#[test]
fn verify_ssl_defaults_to_true_and_false_warns() {
    let s = config("").expect("empty config is valid");
    assert!(s.wazuh.tls.verify);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let s = config("wazuh: {verify_ssl: false}").expect("valid");
    assert!(!s.wazuh.tls.verify);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(
        s.warnings[0].contains("certificate of https://localhost:9200/ is NOT verified"),
        "{:?}",
        s.warnings
    );
    let s = config("wazuh: {verify_ssl: /etc/ca.pem}").expect("the original's CA-path form");
    assert!(s.wazuh.tls.verify);
    assert_eq!(s.wazuh.tls.ca_cert, Some(PathBuf::from("/etc/ca.pem")));
}

/// Plain http has no certificate: one warning, about the missing encryption, whether or not
/// verification is off or a password is set.
#[test]
fn plain_http_gives_one_warning_about_encryption_not_certificates() {
    for text in [
        "wazuh: {base_url: 'http://indexer:9200', verify_ssl: false}",
        "wazuh: {base_url: 'http://indexer:9200', password: pw}",
        "wazuh: {base_url: 'http://indexer:9200', password: pw, verify_ssl: false}",
    ] {
        let s = config(text).expect("valid");
        assert_eq!(s.warnings.len(), 1, "{text}: {:?}", s.warnings);
        let w = &s.warnings[0];
        assert!(
            w.contains("connection to http://indexer:9200/ is not encrypted (http)")
                && w.contains("clear text"),
            "{text}: {w}"
        );
        assert!(!w.contains("certificate"), "{text}: {w}");
    }
    let s = config("wazuh: {base_url: 'http://indexer:9200'}").expect("valid");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn debug_enabled_in_yaml_really_enables_debug_mode_and_disables_shipping() {
    let s = scenario("name: t\ndebug: {enabled: true}\nshipping: {enabled: true}").expect("valid");
    assert!(s.debug.enabled);
    assert!(!s.shipping.enabled);
    let s = scenario("name: t\nshipping: {enabled: true}").expect("valid");
    assert!(!s.debug.enabled && s.shipping.enabled);
}

#[test]
fn model_names_are_slugs_without_timestamps() {
    for (name, expected) in [
        ("Brute Force Detection", "brute_force_detection"),
        (
            "  Linux -- Resource/Monitoring!! ",
            "linux_--_resource_monitoring",
        ),
        ("___", "scenario"),
        ("Ünïcode Name", "n_code_name"),
    ] {
        assert_eq!(slug(name), expected, "{name}");
    }
    let s = scenario("name: Brute Force Detection").expect("valid");
    assert_eq!(s.model_name, "brute_force_detection");
    assert_eq!(s.shipping.scenario_id, "brute_force_detection");
    let s = scenario("name: X\nmodel_name: fixed_v1").expect("valid");
    assert_eq!(s.model_name, "fixed_v1");
}

#[test]
fn pickle_model_paths_are_rewritten_with_a_warning() {
    let s = config("model_path: ./model/mvad_model.pkl").expect("valid");
    assert_eq!(s.model_path, PathBuf::from("/etc/sonar/./model/mvad_model"));
    assert!(
        s.warnings.iter().any(|w| w.contains("pickle")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn synthetic_flags_build_an_injection() {
    let flags = Overrides {
        synthetic_count: Some(20),
        synthetic_mode: Some(crate::synthetic::Placement::Prepend),
        synthetic_srcip: Some("203.0.113.9".parse().expect("ip")),
        ..Overrides::default()
    };
    let s = resolve(None, None, &Environment::default(), &flags).expect("valid");
    let inj = s.injection.expect("injection");
    assert_eq!(inj.count, 20);
    assert_eq!(inj.placement, crate::synthetic::Placement::Prepend);
    assert_eq!(inj.spec.level, 5);
    assert_eq!(inj.spec.srcip.to_string(), "203.0.113.9");
    let flags = Overrides {
        synthetic_level: Some(30),
        synthetic_count: Some(1),
        ..Overrides::default()
    };
    let err = resolve(None, None, &Environment::default(), &flags).expect_err("level too high");
    assert!(err.to_string().contains("--synthetic-level"), "{err}");
}

#[test]
fn sliding_window_sizes() {
    let sw = SlidingWindow::new(48).expect("valid");
    assert_eq!(
        (sw.input_rows(), sw.threshold_rows(), sw.min_scoring_rows()),
        (24, 24, 48)
    );
    let sw = SlidingWindow::new(1000).expect("valid");
    assert_eq!((sw.input_rows(), sw.threshold_rows()), (500, 200));
    assert!(SlidingWindow::new(27).is_err() && SlidingWindow::new(2881).is_err());
}

/// The key table of the walk and the serde structs must list the same keys, or a key would be
/// accepted by one and rejected (or silently dropped) by the other.
#[test]
fn debug_mode_refuses_an_alert_filter_it_cannot_evaluate_at_load() {
    let text = "name: t\ntraining:\n  alert_filter: {bool: {must: [{term: {agent.id: '001'}}, {query_string: {query: sshd}}]}}\n";
    // Against the indexer the server evaluates it: no local check.
    scenario(text).expect("valid outside debug mode");
    let err = scenario(&format!("{text}debug: {{enabled: true}}\n")).expect_err("refused");
    let message = err.to_string();
    for part in [
        "/etc/sonar/scenarios/s.yaml",
        "training.alert_filter.bool.must[1].query_string",
        "`query_string` is not supported",
    ] {
        assert!(message.contains(part), "{message} lacks {part}");
    }
    let s = scenario(
        "name: t\ntraining: {alert_filter: {terms: {rule.groups: [sshd]}}}\ndebug: {enabled: true}",
    )
    .expect("a supported filter loads in debug mode");
    assert!(s.debug.enabled && s.alert_filter.is_some());
    let err =
        config("features: {alert_filter: {regexp: {agent.name: 'w.*'}}}\ndebug: {enabled: true}")
            .expect_err("refused");
    assert!(
        err.to_string()
            .contains("/etc/sonar/config.yaml: `features.alert_filter.regexp`"),
        "{err}"
    );
}

#[test]
fn threshold_rule_defaults_to_the_references_lagged_rule() {
    let default = scenario("name: s\n").expect("defaults");
    assert_eq!(
        default.detection.threshold_rule,
        sonar_mvad::ThresholdRule::Lagged
    );
    let trailing = scenario("name: s\ndetection: {threshold_rule: trailing}\n").expect("trailing");
    assert_eq!(
        trailing.detection.threshold_rule,
        sonar_mvad::ThresholdRule::Trailing
    );
}

#[test]
fn start_and_end_are_checked_against_each_other_and_the_mode() {
    let sc = ScenarioFile::parse(
        "name: t\ntraining: {bucket_minutes: 5}",
        Path::new("s.yaml"),
    )
    .expect("scenario");
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&chrono::Utc)
    };
    let flags = |start: &str, end: &str, mode: Option<DetectionMode>| Overrides {
        window: RunWindow {
            start: Some(at(start)),
            end: Some(at(end)),
        },
        mode,
        ..Overrides::default()
    };
    let run = |o: &Overrides| resolve(None, Some(&sc), &Environment::default(), o);
    let ok = run(&flags("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z", None)).expect("valid");
    assert_eq!(ok.window.start, Some(at("2024-05-01T00:00:00Z")));
    let e = run(&flags("2024-05-02T00:00:00Z", "2024-05-01T00:00:00Z", None))
        .expect_err("start after end")
        .to_string();
    assert!(
        e.contains("--start") && e.contains("not before --end"),
        "{e}"
    );
    let e = run(&flags(
        "2024-05-01T00:00:00Z",
        "2024-05-02T00:00:00Z",
        Some(DetectionMode::Realtime),
    ))
    .expect_err("realtime with a window")
    .to_string();
    assert!(e.contains("realtime"), "{e}");
}

#[test]
fn top_contributors_defaults_to_the_sinks_constant_and_is_read_from_the_scenario() {
    let default = scenario("name: s\n").expect("defaults");
    assert_eq!(
        default.detection.top_contributors,
        crate::sink::DEFAULT_TOP_CONTRIBUTORS
    );
    let two = scenario("name: s\ndetection: {top_contributors: 2}\n").expect("set");
    assert_eq!(two.detection.top_contributors, 2);
    check_error(
        scenario("name: s\ndetection: {top_contributors: -1}\n"),
        "detection.top_contributors",
        "must not be negative",
    );
}

#[test]
fn entity_field_takes_one_path_or_a_list_of_two_and_max_entities_defaults_to_100() {
    assert_eq!(scenario("name: s\n").expect("defaults").entities, None);
    let one = scenario("name: s\ntraining: {entity_field: agent.name}\n").expect("one field");
    let entities = one.entities.expect("split");
    assert_eq!(entities.fields, vec!["agent.name".to_owned()]);
    assert_eq!(
        entities.max_entities as u64,
        crate::pipeline::EntitySettings::DEFAULT_MAX_ENTITIES
    );
    assert_eq!(one.entity, None, "only the per-entity runs set it");
    let two = scenario(
        "name: s\ntraining: {entity_field: [agent.name, data.dstuser], max_entities: 7}\n",
    )
    .expect("two fields");
    let entities = two.entities.expect("split");
    assert_eq!(entities.fields, vec!["agent.name", "data.dstuser"]);
    assert_eq!(entities.max_entities, 7);
    assert_eq!(entities.model, crate::pipeline::EntityModel::PerEntity);
    let shared = scenario("name: s\ntraining: {entity_field: agent.name, entity_model: shared}\n")
        .expect("shared");
    assert_eq!(
        shared.entities.expect("split").model,
        crate::pipeline::EntityModel::Shared
    );
    for (text, key, problem) in [
        (
            "training: {entity_field: [a, b, c]}",
            "training.entity_field",
            "at most 2 (found 3)",
        ),
        (
            "training: {entity_field: []}",
            "training.entity_field",
            "found 0",
        ),
        (
            "training: {entity_field: [agent.name, agent.name]}",
            "training.entity_field",
            "listed twice",
        ),
        (
            "training: {entity_field: .agent}",
            "training.entity_field",
            "not a dotted field path",
        ),
        (
            "training: {entity_field: {a: 1}}",
            "training.entity_field",
            "a field path or a list of them",
        ),
        (
            "training: {entity_field: agent.name, max_entities: 0}",
            "training.max_entities",
            "at least 1",
        ),
        (
            "training: {entity_field: agent.name, entity_model: pooled}",
            "training.entity_model",
            "use per_entity or shared",
        ),
    ] {
        check_error(scenario(&format!("name: s\n{text}\n")), key, problem);
    }
}
