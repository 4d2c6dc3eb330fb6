//! Property tests of the config and scenario loader: any text, and any mix of known keys,
//! unknown keys and wrongly typed values (NaN, infinities, huge and negative numbers,
//! strings, lists, maps, nulls), gives settings or an error naming the file, never a panic.

use std::path::Path;

use proptest::prelude::*;
use sonar::config::{resolve, ConfigFile, Environment, Overrides, ScenarioFile};

/// Key paths of the config file (`c.yaml`) and the scenario (`s.yaml`), known and unknown.
const CONFIG_KEYS: &[&str] = &[
    "wazuh.base_url",
    "wazuh.verify_ssl",
    "wazuh.page_size",
    "wazuh.max_retries",
    "wazuh.request_timeout_seconds",
    "wazuh.ca_cert",
    "mvad.sliding_window",
    "mvad.extra_params",
    "features.bucket_minutes",
    "features.categorical_top_k",
    "features.numeric_fields",
    "debug.enabled",
    "model_path",
    "shipping.enabled",
    "colour",
    "wazuh.verify_certs",
];
const SCENARIO_KEYS: &[&str] = &[
    "name",
    "enabled",
    "training.lookback_hours",
    "training.bucket_minutes",
    "training.sliding_window",
    "training.categorical_top_k",
    "training.extra_params",
    "detection.threshold",
    "detection.min_consecutive",
    "detection.mode",
    "detection.lookback_minutes",
    "detection.polling_interval_seconds",
    "threshhold",
    "training.colour",
];

/// A YAML value of any type, including the numbers that break naive code.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(".nan".to_owned()),
        Just(".inf".to_owned()),
        Just("-.inf".to_owned()),
        Just("\"NaN\"".to_owned()),
        Just("\"1e999\"".to_owned()),
        Just("1e999".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[1, \"two\", null]".to_owned()),
        Just("{epochs: -1, lr: .nan}".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z0-9 ./:_-]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ]
}

/// A YAML document setting some of `keys` (dotted paths become nested maps).
fn document(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(keys), any_value()), 0..8).prop_map(|pairs| {
        let mut root = serde_yaml::Mapping::new();
        for (key, value) in pairs {
            let value: serde_yaml::Value =
                serde_yaml::from_str(&value).unwrap_or(serde_yaml::Value::Null);
            let mut parts: Vec<&str> = key.split('.').collect();
            let leaf = parts.pop().expect("non-empty key");
            let mut map = &mut root;
            for part in parts {
                let entry = map
                    .entry(part.into())
                    .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
                if !entry.is_mapping() {
                    *entry = serde_yaml::Value::Mapping(Default::default());
                }
                map = entry.as_mapping_mut().expect("just made a mapping");
            }
            map.insert(leaf.into(), value);
        }
        serde_yaml::to_string(&root).expect("a mapping serialises")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_text_parses_or_names_the_file(text in "\\PC{0,200}") {
        if let Err(e) = ConfigFile::parse(&text, Path::new("c.yaml")) {
            prop_assert!(e.to_string().contains("c.yaml"), "{}", e);
        }
        if let Err(e) = ScenarioFile::parse(&text, Path::new("s.yaml")) {
            prop_assert!(e.to_string().contains("s.yaml"), "{}", e);
        }
    }

    #[test]
    fn any_keys_and_values_give_settings_or_an_error_naming_file_and_key(
        config in document(CONFIG_KEYS),
        scenario in document(SCENARIO_KEYS),
    ) {
        let config = match ConfigFile::parse(&config, Path::new("c.yaml")) {
            Ok(c) => c,
            Err(e) => {
                prop_assert!(e.to_string().contains("c.yaml"), "{}", e);
                return Ok(());
            }
        };
        let scenario = match ScenarioFile::parse(&scenario, Path::new("s.yaml")) {
            Ok(s) => s,
            Err(e) => {
                prop_assert!(e.to_string().contains("s.yaml"), "{}", e);
                return Ok(());
            }
        };
        match resolve(Some(&config), Some(&scenario), &Environment::default(), &Overrides::default()) {
            Ok(settings) => {
                prop_assert!(settings.mvad.sliding_window.get() >= 28);
                prop_assert!(settings.features.bucket_minutes >= 1);
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.contains("c.yaml") || text.contains("s.yaml"), "{}", text);
                prop_assert!(text.contains('`'), "no key path named: {}", text);
            }
        }
    }
}
