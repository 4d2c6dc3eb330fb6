//! Every key of config and scenario files, declared once: where it may be written, its type,
//! its default and the one line docs/configuration.md shows for it. Defaults that a component
//! owns are that component's named constants (`FeatureSpec::DEFAULT_BUCKET_MINUTES`,
//! `sink::DEFAULT_ANOMALIES_INDEX`, …); a key whose absence means something else (computed
//! from other keys, or "none") is an [`Opt`] with the rule as text.
//!
//! The walk (`schema.rs`) accepts exactly these keys, `Settings::resolve` reads them through
//! [`super::key::Layers`], and a test regenerates the reference tables of
//! docs/configuration.md from [`ALL`] and fails when the file differs. Adding a key: one
//! declaration here (and in [`ALL`]), plus the code that uses it.

use std::marker::PhantomData;

use super::key::{Declared, FieldList, FilePath, FreeMap, Key, Opt, Query, VerifyFlag};
use super::settings::{
    DebugSettings, DetectionSettings, MvadSettings, PayloadSettings, ScenarioInfo, Settings,
    TrainingSettings, WazuhSettings,
};
use crate::features::FeatureSpec;
use crate::pipeline::EntitySettings;
use crate::synthetic::SyntheticSpec;

/// `wazuh.base_url`
pub(crate) const BASE_URL: Key<&'static str> = Key {
    config: Some("wazuh.base_url"),
    scenario: Some("wazuh.base_url"),
    default: WazuhSettings::DEFAULT_BASE_URL,
    new: false,
    doc: "indexer URL; `http` warns once (\"not encrypted: credentials and alerts travel in clear text\") when a password is set or `verify_ssl` is false; environment `SONAR_WAZUH_URL`",
};

/// `wazuh.username`
pub(crate) const USERNAME: Key<&'static str> = Key {
    config: Some("wazuh.username"),
    scenario: Some("wazuh.username"),
    default: WazuhSettings::DEFAULT_USERNAME,
    new: false,
    doc: "basic auth; environment `SONAR_WAZUH_USERNAME`",
};

/// `wazuh.password`
pub(crate) const PASSWORD: Opt<&'static str> = Opt {
    config: Some("wazuh.password"),
    scenario: Some("wazuh.password"),
    default: "`admin`",
    new: false,
    doc: "plain-text password (prefer `password_file` or `SONAR_WAZUH_PASSWORD`)",
    kind: PhantomData,
};

/// `wazuh.password_file`
pub(crate) const PASSWORD_FILE: Opt<FilePath> = Opt {
    config: Some("wazuh.password_file"),
    scenario: Some("wazuh.password_file"),
    default: "—",
    new: true,
    doc: "file whose first line is the password",
    kind: PhantomData,
};

/// `wazuh.verify_ssl`
pub(crate) const VERIFY_SSL: Key<VerifyFlag> = Key {
    config: Some("wazuh.verify_ssl"),
    scenario: Some("wazuh.verify_ssl"),
    default: VerifyFlag(true),
    new: false,
    doc: "verify TLS (the original's default was false); `false` on an `https` URL warns once per run that the certificate is not verified (on `http` there is no certificate: the one warning is the `base_url` one); a path means `true` + that CA bundle",
};

/// `wazuh.ca_cert`
pub(crate) const CA_CERT: Opt<FilePath> = Opt {
    config: Some("wazuh.ca_cert"),
    scenario: Some("wazuh.ca_cert"),
    default: "—",
    new: true,
    doc: "PEM of a private CA",
    kind: PhantomData,
};

/// `wazuh.alerts_index_pattern`
pub(crate) const ALERTS_INDEX_PATTERN: Key<&'static str> = Key {
    config: Some("wazuh.alerts_index_pattern"),
    scenario: Some("wazuh.alerts_index_pattern"),
    default: crate::source::indexer::DEFAULT_ALERTS_INDEX_PATTERN,
    new: false,
    doc: "searched for alerts",
};

/// `wazuh.anomalies_index`
pub(crate) const ANOMALIES_INDEX: Key<&'static str> = Key {
    config: Some("wazuh.anomalies_index"),
    scenario: Some("wazuh.anomalies_index"),
    default: crate::sink::DEFAULT_ANOMALIES_INDEX,
    new: false,
    doc: "anomaly documents when not shipping",
};

/// `wazuh.timestamp_field`
pub(crate) const TIMESTAMP_FIELD: Key<&'static str> = Key {
    config: Some("wazuh.timestamp_field"),
    scenario: Some("wazuh.timestamp_field"),
    default: FeatureSpec::DEFAULT_TIMESTAMP_FIELD,
    new: true,
    doc: "alert time field",
};

/// `wazuh.page_size`
pub(crate) const PAGE_SIZE: Key<u64> = Key {
    config: Some("wazuh.page_size"),
    scenario: Some("wazuh.page_size"),
    default: crate::source::indexer::DEFAULT_PAGE_SIZE as u64,
    new: true,
    doc: "hits per search page (1–10000; PIT + `search_after`)",
};

/// `wazuh.server_features`
pub(crate) const SERVER_FEATURES: Key<bool> = Key {
    config: Some("wazuh.server_features"),
    scenario: Some("wazuh.server_features"),
    default: true,
    new: true,
    doc: "the indexer computes the feature matrix with aggregations: one small bucket per grid row crosses the network instead of every alert (ARCHITECTURE.md \"Where features are computed\"). A field it cannot aggregate, such as a number stored as a string (`keyword`), makes SONAR read alerts instead, after one warning that quotes the indexer's reason. `false` always reads alerts",
};

/// `wazuh.connect_timeout_seconds`
pub(crate) const CONNECT_TIMEOUT_SECONDS: Key<u64> = Key {
    config: Some("wazuh.connect_timeout_seconds"),
    scenario: Some("wazuh.connect_timeout_seconds"),
    default: WazuhSettings::DEFAULT_CONNECT_TIMEOUT_SECONDS,
    new: true,
    doc: "TCP/TLS connect timeout",
};

/// `wazuh.request_timeout_seconds`
pub(crate) const REQUEST_TIMEOUT_SECONDS: Key<u64> = Key {
    config: Some("wazuh.request_timeout_seconds"),
    scenario: Some("wazuh.request_timeout_seconds"),
    default: WazuhSettings::DEFAULT_REQUEST_TIMEOUT_SECONDS,
    new: true,
    doc: "whole-request timeout",
};

/// `wazuh.max_retries`
pub(crate) const MAX_RETRIES: Key<u64> = Key {
    config: Some("wazuh.max_retries"),
    scenario: Some("wazuh.max_retries"),
    default: WazuhSettings::DEFAULT_MAX_RETRIES,
    new: true,
    doc: "on 429/5xx/connection errors, with backoff",
};

/// `mvad.sliding_window`
pub(crate) const SLIDING_WINDOW: Key<u64> = Key {
    config: Some("mvad.sliding_window"),
    scenario: Some("training.sliding_window"),
    default: MvadSettings::DEFAULT_SLIDING_WINDOW,
    new: false,
    doc: "28–2880 buckets. W = sw/2 rows in, TW = min(200, sw − W); scoring needs W + TW rows, training `sliding_window + 1`. Small-data rule: when no file sets it and the training data are too few buckets, the fit uses the largest window (down to 28) that the buckets allow, with a warning naming both values, and the model records that window; an explicitly set window that does not fit is an error (\"need at least N buckets … widen the training window or pad it\")",
};

/// `mvad.device`
pub(crate) const DEVICE: Key<&'static str> = Key {
    config: Some("mvad.device"),
    scenario: Some("training.device"),
    default: MvadSettings::DEFAULT_DEVICE,
    new: false,
    doc: "`cpu` or `cuda`/`gpu` (GPU build)",
};

/// `mvad.extra_params`
pub(crate) const EXTRA_PARAMS: Key<FreeMap> = Key {
    config: Some("mvad.extra_params"),
    scenario: Some("training.extra_params"),
    default: FreeMap,
    new: false,
    doc: "MVAD parameters, checked by the engine when the file is read: `epochs`, `batch_size`, `lr`, `seed`, `interval`, `train_ratio`, `val_ratio`, `level`, `beta`, `fill_na_method`, `fill_na_value`, `early_stopping_patience`, `early_stopping_min_delta`, `early_stopping_smoothing`, `max_validation_windows`, `keep_partial_batch`, and `scoring` (a preset `faithful`/`improved` or a mapping: `error` `faithful`/`standardised`, `recon_gamma`, `smooth_rows`, `pca_gamma`; see docs/mvad.md \"Scoring\"). A name the engine does not know warns and is dropped (`learning_rate` → \"did you mean `lr`\"); `sliding_window`/`device` here are errors. `epochs` defaults to 15 (the reference library's 100 over-fits alert data: docs/quality.md \"Alert data at the default threshold\"); the other keys default to the engine's values. A scenario's map is merged key by key over the config's",
};

/// `features.numeric_fields`
pub(crate) const NUMERIC_FIELDS: Key<&'static [&'static str]> = Key {
    config: Some("features.numeric_fields"),
    scenario: Some("training.numeric_fields"),
    default: FeatureSpec::DEFAULT_NUMERIC_FIELDS,
    new: false,
    doc: "dotted fields, bucket mean (numeric strings accepted)",
};

/// `features.bucket_minutes`
pub(crate) const BUCKET_MINUTES: Key<u64> = Key {
    config: Some("features.bucket_minutes"),
    scenario: Some("training.bucket_minutes"),
    default: FeatureSpec::DEFAULT_BUCKET_MINUTES as u64,
    new: false,
    doc: "1–1440, epoch-aligned grid (detection uses the model's)",
};

/// `features.categorical_fields`
pub(crate) const CATEGORICAL_FIELDS: Key<&'static [&'static str]> = Key {
    config: Some("features.categorical_fields"),
    scenario: Some("training.categorical_fields"),
    default: &[],
    new: false,
    doc: "one-hot, top-k values + `__other`",
};

/// `features.categorical_top_k`
pub(crate) const CATEGORICAL_TOP_K: Key<u64> = Key {
    config: Some("features.categorical_top_k"),
    scenario: Some("training.categorical_top_k"),
    default: FeatureSpec::DEFAULT_CATEGORICAL_TOP_K as u64,
    new: false,
    doc: "0 keeps all",
};

/// `features.derived_features`
pub(crate) const DERIVED_FEATURES: Key<bool> = Key {
    config: Some("features.derived_features"),
    scenario: Some("training.derived_features"),
    default: true,
    new: false,
    doc: "the 13 indicator columns",
};

/// `features.alert_filter`
pub(crate) const ALERT_FILTER: Opt<Query> = Opt {
    config: Some("features.alert_filter"),
    scenario: Some("training.alert_filter"),
    default: "—",
    new: false,
    doc: "OpenSearch query in `bool.must` (now honoured in config files too); in debug mode evaluated on the local files, see [below](#alert_filter-in-debug-mode)",
    kind: PhantomData,
};

/// `features.max_numeric_fields`
pub(crate) const MAX_NUMERIC_FIELDS: Key<&'static [&'static str]> = Key {
    config: Some("features.max_numeric_fields"),
    scenario: Some("training.max_numeric_fields"),
    default: &[],
    new: false,
    doc: "`<field>__max` columns; each must also be in `numeric_fields`",
};

/// `debug.enabled`
pub(crate) const DEBUG_ENABLED: Key<bool> = Key {
    config: Some("debug.enabled"),
    scenario: Some("debug.enabled"),
    default: false,
    new: false,
    doc: "**really** switches to debug mode (as `--debug` does)",
};

/// `debug.data_dir`
pub(crate) const DATA_DIR: Key<FilePath> = Key {
    config: Some("debug.data_dir"),
    scenario: Some("debug.data_dir"),
    default: FilePath(DebugSettings::DEFAULT_DATA_DIR),
    new: false,
    doc: "directory of the alert files",
};

/// `debug.training_data_file`
pub(crate) const TRAINING_DATA_FILE: Key<&'static str> = Key {
    config: Some("debug.training_data_file"),
    scenario: Some("debug.training_data_file"),
    default: DebugSettings::DEFAULT_TRAINING_DATA_FILE,
    new: false,
    doc: "in `data_dir`",
};

/// `debug.detection_data_file`
pub(crate) const DETECTION_DATA_FILE: Key<&'static str> = Key {
    config: Some("debug.detection_data_file"),
    scenario: Some("debug.detection_data_file"),
    default: DebugSettings::DEFAULT_DETECTION_DATA_FILE,
    new: false,
    doc: "in `data_dir`",
};

/// `debug.anomalies_file`
pub(crate) const ANOMALIES_FILE: Opt<FilePath> = Opt {
    config: Some("debug.anomalies_file"),
    scenario: Some("debug.anomalies_file"),
    default: "`sonar-debug/<scenario_id>.anomalies.jsonl`",
    new: true,
    doc: "where debug mode writes anomaly documents",
    kind: PhantomData,
};

/// `shipping.enabled`
pub(crate) const SHIP_ENABLED: Key<bool> = Key {
    config: Some("shipping.enabled"),
    scenario: Some("shipping.enabled"),
    default: false,
    new: false,
    doc: "ship to data stream `sonar_anomalies_<scenario_id>` (`--ship` too); never in debug mode",
};

/// `shipping.install_templates`
pub(crate) const INSTALL_TEMPLATES: Key<bool> = Key {
    config: Some("shipping.install_templates"),
    scenario: Some("shipping.install_templates"),
    default: true,
    new: false,
    doc: "install index templates at training time",
};

/// `shipping.scenario_id`
pub(crate) const SCENARIO_ID: Opt<&'static str> = Opt {
    config: Some("shipping.scenario_id"),
    scenario: Some("shipping.scenario_id"),
    default: "the model name",
    new: false,
    doc: "lowercase letters, digits, `_`, `-`",
    kind: PhantomData,
};

/// `model_path`
pub(crate) const MODEL_PATH: Key<FilePath> = Key {
    config: Some("model_path"),
    scenario: None,
    default: FilePath(Settings::DEFAULT_MODEL_PATH),
    new: false,
    doc: "base path of the model files (the engine adds its extensions). A `.pkl` extension is dropped with a warning (SONAR never writes pickle). A scenario's model is `<directory of model_path>/<model name>`",
};

/// `name`
pub(crate) const NAME: Key<&'static str> = Key {
    config: None,
    scenario: Some("name"),
    default: ScenarioInfo::DEFAULT_NAME,
    new: false,
    doc: "logs, documents; the model name and stream id derive from it",
};

/// `description`
pub(crate) const DESCRIPTION: Key<&'static str> = Key {
    config: None,
    scenario: Some("description"),
    default: "",
    new: false,
    doc: "logged",
};

/// `enabled`
pub(crate) const ENABLED: Key<bool> = Key {
    config: None,
    scenario: Some("enabled"),
    default: true,
    new: false,
    doc: "`false`: the scenario command says so and exits 0",
};

/// `model_name`
pub(crate) const MODEL_NAME: Opt<&'static str> = Opt {
    config: None,
    scenario: Some("model_name"),
    default: "slug of `name` (`Brute Force Detection` → `brute_force_detection`, no timestamp)",
    new: false,
    doc: "model file name; `--model-name` overrides",
    kind: PhantomData,
};

/// `training.lookback_hours`
pub(crate) const LOOKBACK_HOURS: Key<u64> = Key {
    config: None,
    scenario: Some("training.lookback_hours"),
    default: TrainingSettings::DEFAULT_LOOKBACK_HOURS,
    new: false,
    doc: "training window (`--lookback-hours` overrides; honoured by `train --scenario` too)",
};

/// `training.min_samples`
pub(crate) const MIN_SAMPLES: Opt<u64> = Opt {
    config: None,
    scenario: Some("training.min_samples"),
    default: "`sliding_window + 1`",
    new: false,
    doc: "minimum training buckets; fewer → stop with a message, or pad (below). Below `sliding_window + 1` is an error. (The original parsed and ignored it.)",
    kind: PhantomData,
};

/// `training.retrain_every_hours`
pub(crate) const RETRAIN_EVERY_HOURS: Opt<u64> = Opt {
    config: None,
    scenario: Some("training.retrain_every_hours"),
    default: "off",
    new: true,
    doc: "`sonar serve` retrains the model this often (the period counts from the model files' time at start); `0` or absent: never",
    kind: PhantomData,
};

/// `training.entity_field`
pub(crate) const ENTITY_FIELD: Opt<FieldList> = Opt {
    config: None,
    scenario: Some("training.entity_field"),
    default: "— (the whole fleet is one series)",
    new: true,
    doc: "split the scenario by entity: a field path (`agent.name`, `data.srcip`, `data.dstuser`) or a list of two; one model per entity, documents carry `entity` (docs/entities.md). `historical`, `batch` and `realtime` modes (one state file per entity), debug or indexer; the indexer counts the entities and computes up to 50 entities' features in one aggregation pass; not yet `sonar serve` or `--ship`",
    kind: PhantomData,
};

/// `training.max_entities`
pub(crate) const MAX_ENTITIES: Key<u64> = Key {
    config: None,
    scenario: Some("training.max_entities"),
    default: EntitySettings::DEFAULT_MAX_ENTITIES,
    new: true,
    doc: "with `entity_field`: the entities with the most training alerts that get a model; the others, and entities first seen at detection, are counted and named in a warning, never dropped silently",
};

/// `training.entity_model`
pub(crate) const ENTITY_MODEL: Opt<&'static str> = Opt {
    config: None,
    scenario: Some("training.entity_model"),
    default: "per_entity",
    new: true,
    doc: "with `entity_field`: `per_entity` (each entity's own network and vocabulary) or `shared` (one network trained on the busiest entities' series, the fleet's vocabulary; each entity keeps its own normalisation, error scales, calibration and threshold). docs/entities.md \"One model per entity or one shared\" has the measurements",
    kind: PhantomData,
};

/// `training.fill_with_synthetic`
pub(crate) const TRAINING_FILL_WITH_SYNTHETIC: Key<bool> = Key {
    config: None,
    scenario: Some("training.fill_with_synthetic"),
    default: false,
    new: false,
    doc:
        "pad training data with synthetic buckets up to `min_samples` (`--fill-with-synthetic` too)",
};

/// `training.synthetic_count`
pub(crate) const TRAINING_SYNTHETIC_COUNT: Key<u64> = Key {
    config: None,
    scenario: Some("training.synthetic_count"),
    default: TrainingSettings::DEFAULT_SYNTHETIC_COUNT,
    new: false,
    doc: "at least this many padding alerts",
};

/// `training.synthetic_mode`
pub(crate) const SYNTHETIC_MODE: Opt<&'static str> = Opt {
    config: None,
    scenario: Some("training.synthetic_mode"),
    default: "`random`",
    new: false,
    doc: "`constant`, `random`, `copy`: how padding values are chosen; `append`/`prepend`/`only` set the placement of `--synthetic-count` alerts",
    kind: PhantomData,
};

/// `training.synthetic_level`
pub(crate) const SYNTHETIC_LEVEL: Key<u64> = Key {
    config: None,
    scenario: Some("training.synthetic_level"),
    default: SyntheticSpec::DEFAULT_LEVEL as u64,
    new: false,
    doc: "`rule.level` in constant mode (0–16)",
};

/// `training.synthetic_srcip`
pub(crate) const SYNTHETIC_SRCIP: Key<&'static str> = Key {
    config: None,
    scenario: Some("training.synthetic_srcip"),
    default: SyntheticSpec::DEFAULT_SRCIP,
    new: false,
    doc: "`data.srcip` in constant mode",
};

/// `detection.mode`
pub(crate) const MODE: Key<&'static str> = Key {
    config: None,
    scenario: Some("detection.mode"),
    default: "historical",
    new: false,
    doc: "`historical` (existing model), `batch` (train, then score), `realtime` (poll); `--mode` overrides",
};

/// `detection.lookback_minutes`
pub(crate) const LOOKBACK_MINUTES: Key<u64> = Key {
    config: None,
    scenario: Some("detection.lookback_minutes"),
    default: DetectionSettings::DEFAULT_LOOKBACK_MINUTES,
    new: false,
    doc: "buckets to score, ending now (`--lookback-minutes` overrides); the W + TW − 1 buckets before it are read as context",
};

/// `detection.polling_interval_seconds`
pub(crate) const POLLING_INTERVAL_SECONDS: Opt<u64> = Opt {
    config: None,
    scenario: Some("detection.polling_interval_seconds"),
    default: "one bucket",
    new: false,
    doc: "realtime poll period",
    kind: PhantomData,
};

/// `detection.ingestion_delay_seconds`
pub(crate) const INGESTION_DELAY_SECONDS: Key<u64> = Key {
    config: None,
    scenario: Some("detection.ingestion_delay_seconds"),
    default: DetectionSettings::DEFAULT_INGESTION_DELAY_SECONDS,
    new: true,
    doc: "realtime: score a bucket only this long after it ended",
};

/// `detection.false_alarm_rate`
pub(crate) const FALSE_ALARM_RATE: Key<f64> = Key {
    config: None,
    scenario: Some("detection.false_alarm_rate"),
    default: crate::detect::DEFAULT_FALSE_ALARM_RATE,
    new: true,
    doc: "expected false anomalous buckets a day under normal traffic; sets `threshold = 1 − rate · bucket_minutes / 1440`",
};

/// `detection.threshold`
pub(crate) const THRESHOLD: Opt<f64> = Opt {
    config: None,
    scenario: Some("detection.threshold"),
    default: "from `false_alarm_rate`",
    new: false,
    doc: "report buckets with `anomaly_score` ≥ threshold (0–1); `anomaly_score = 1 − p`, `p` the share of normal buckets scoring at least as high (README \"anomaly_score and threshold\"). Set this or `false_alarm_rate`, not both",
    kind: PhantomData,
};

/// `detection.min_consecutive`
pub(crate) const MIN_CONSECUTIVE: Key<u64> = Key {
    config: None,
    scenario: Some("detection.min_consecutive"),
    default: DetectionSettings::DEFAULT_MIN_CONSECUTIVE,
    new: false,
    doc: "anomalous buckets in a row needed for an event",
};

/// `detection.threshold_rule`
pub(crate) const THRESHOLD_RULE: Key<&'static str> = Key {
    config: None,
    scenario: Some("detection.threshold_rule"),
    default: "lagged",
    new: true,
    doc: "the engine's local threshold: `lagged` (the reference's rule: the 95th percentile of the `TW` scores ending `TW − 1` buckets before the judged one) or `trailing` (the `TW` scores ending at the judged bucket); see docs/mvad.md for both compared",
};

/// `detection.top_contributors`
pub(crate) const TOP_CONTRIBUTORS: Key<u64> = Key {
    config: None,
    scenario: Some("detection.top_contributors"),
    default: crate::sink::DEFAULT_TOP_CONTRIBUTORS as u64,
    new: true,
    doc: "variables listed in each anomaly document's `top_contributors` (largest contribution first); 0 lists none",
};

/// `detection.print_payloads`
pub(crate) const PRINT_PAYLOADS: Key<bool> = Key {
    config: None,
    scenario: Some("detection.print_payloads"),
    default: false,
    new: false,
    doc: "print every payload sent (`--print-payloads` too)",
};

/// `detection.dry_run`
pub(crate) const DRY_RUN: Key<bool> = Key {
    config: None,
    scenario: Some("detection.dry_run"),
    default: false,
    new: false,
    doc: "build payloads, send nothing (`--dry-run` too)",
};

/// `detection.payload_dir`
pub(crate) const PAYLOAD_DIR: Key<FilePath> = Key {
    config: None,
    scenario: Some("detection.payload_dir"),
    default: FilePath(PayloadSettings::DEFAULT_DIR),
    new: false,
    doc: "payload dumps; `--payload-dir` overrides",
};

/// `detection.fill_with_synthetic`
pub(crate) const DETECTION_FILL_WITH_SYNTHETIC: Key<bool> = Key {
    config: None,
    scenario: Some("detection.fill_with_synthetic"),
    default: false,
    new: false,
    doc: "pad a too-short detection series so the model has a full window",
};

/// `detection.synthetic_count`
pub(crate) const DETECTION_SYNTHETIC_COUNT: Key<u64> = Key {
    config: None,
    scenario: Some("detection.synthetic_count"),
    default: DetectionSettings::DEFAULT_SYNTHETIC_COUNT,
    new: false,
    doc: "at least this many padding alerts for detection",
};

/// Every declared key, in the order of docs/configuration.md.
pub(crate) const ALL: &[&dyn Declared] = &[
    &BASE_URL,
    &USERNAME,
    &PASSWORD,
    &PASSWORD_FILE,
    &VERIFY_SSL,
    &CA_CERT,
    &ALERTS_INDEX_PATTERN,
    &ANOMALIES_INDEX,
    &TIMESTAMP_FIELD,
    &PAGE_SIZE,
    &SERVER_FEATURES,
    &CONNECT_TIMEOUT_SECONDS,
    &REQUEST_TIMEOUT_SECONDS,
    &MAX_RETRIES,
    &SLIDING_WINDOW,
    &DEVICE,
    &EXTRA_PARAMS,
    &NUMERIC_FIELDS,
    &BUCKET_MINUTES,
    &CATEGORICAL_FIELDS,
    &CATEGORICAL_TOP_K,
    &DERIVED_FEATURES,
    &ALERT_FILTER,
    &MAX_NUMERIC_FIELDS,
    &DEBUG_ENABLED,
    &DATA_DIR,
    &TRAINING_DATA_FILE,
    &DETECTION_DATA_FILE,
    &ANOMALIES_FILE,
    &SHIP_ENABLED,
    &INSTALL_TEMPLATES,
    &SCENARIO_ID,
    &MODEL_PATH,
    &NAME,
    &DESCRIPTION,
    &ENABLED,
    &MODEL_NAME,
    &LOOKBACK_HOURS,
    &MIN_SAMPLES,
    &RETRAIN_EVERY_HOURS,
    &ENTITY_FIELD,
    &MAX_ENTITIES,
    &ENTITY_MODEL,
    &TRAINING_FILL_WITH_SYNTHETIC,
    &TRAINING_SYNTHETIC_COUNT,
    &SYNTHETIC_MODE,
    &SYNTHETIC_LEVEL,
    &SYNTHETIC_SRCIP,
    &MODE,
    &LOOKBACK_MINUTES,
    &POLLING_INTERVAL_SECONDS,
    &INGESTION_DELAY_SECONDS,
    &FALSE_ALARM_RATE,
    &THRESHOLD,
    &MIN_CONSECUTIVE,
    &THRESHOLD_RULE,
    &TOP_CONTRIBUTORS,
    &PRINT_PAYLOADS,
    &DRY_RUN,
    &PAYLOAD_DIR,
    &DETECTION_FILL_WITH_SYNTHETIC,
    &DETECTION_SYNTHETIC_COUNT,
];
