//! The layers merged into one validated [`Settings`]: each key's value comes from the highest
//! layer that gives it (built-in default < config file < scenario < environment < flags), is
//! checked once here, and reaches its component typed. Every error names its origin (file,
//! environment variable or command line), the key path as that origin writes it, and the
//! problem. One function per component, in the order the settings are built.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::file::{ConfigFile, Loaded, VerifySsl};
use super::key::{Layer, Layers, Pick, BUILT_IN};
use super::keys;
use super::path::normalise_path;
use super::scenario::{slug, ScenarioFile};
use super::settings::{
    DebugSettings, DetectionMode, DetectionSettings, Device, Environment, MvadSettings, Overrides,
    PayloadSettings, ScenarioInfo, Settings, ShippingSettings, SlidingWindow, Tls,
    TrainingSettings, WazuhSettings, ENV_PASSWORD, ENV_URL, ENV_USERNAME,
};
use crate::features::FeatureSpec;
use crate::pipeline::{EntityModel, EntitySettings};
use crate::source::filter::AlertFilter;
use crate::source::{Secret, SecretOrigin};
use crate::synthetic::{Injection, Placement, SyntheticSpec, ValueMode};
use crate::Error;

const CLI: &str = "command line";

/// A JSON object (`alert_filter`, `extra_params`).
type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Longest lookback accepted: 100 years (larger values overflow time arithmetic).
const MAX_LOOKBACK_MINUTES: u64 = 100 * 366 * 24 * 60;

/// Merges the layers into validated settings.
pub fn resolve(
    config: Option<&Loaded<ConfigFile>>,
    scenario: Option<&Loaded<ScenarioFile>>,
    env: &Environment,
    flags: &Overrides,
) -> Result<Settings, Error> {
    let layers = Layers { config, scenario };
    let mut warnings: Vec<String> = Vec::new();
    warnings.extend(config.iter().flat_map(|l| l.warnings.iter().cloned()));
    warnings.extend(scenario.iter().flat_map(|l| l.warnings.iter().cloned()));

    let wazuh = wazuh(&layers, env, &mut warnings)?;
    let mvad = mvad(&layers, &mut warnings)?;
    let (features, alert_filter) = features(&layers)?;
    let (model_name, model_path) = model(&layers, flags, &mut warnings)?;
    let debug_enabled = flags.debug || layers.value(&keys::DEBUG_ENABLED)?.value;
    if debug_enabled {
        check_local_filter(alert_filter.as_ref())?;
    }
    let shipping = shipping(&layers, flags, &model_name, debug_enabled, &mut warnings)?;
    let debug = debug(&layers, debug_enabled, &shipping.scenario_id)?;
    let (training, file_placement) = training(&layers, flags, mvad.sliding_window, &features)?;
    let detection = detection(&layers, flags, features.bucket_minutes)?;
    let entities = entities(&layers)?;
    if let (Some(shard), None) = (flags.shard, &entities) {
        return Err(value_error(
            CLI,
            "--shard",
            format!("{shard} splits the entities of a per-entity scenario, and this run has no training.entity_field"),
        ));
    }
    check_window(flags, &detection)?;
    let injection = injection(flags, file_placement, &training.synthetic, &mut warnings)?;
    let scenario_info = match scenario {
        Some(l) => Some(ScenarioInfo {
            path: l.path.clone(),
            name: layers.value(&keys::NAME)?.value,
            description: layers.value(&keys::DESCRIPTION)?.value,
            enabled: layers.value(&keys::ENABLED)?.value,
            has_training: l.value.has_section("training"),
            has_detection: l.value.has_section("detection"),
        }),
        None => None,
    };
    Ok(Settings {
        wazuh,
        mvad,
        features,
        alert_filter: alert_filter.map(|p| serde_json::Value::Object(p.value)),
        debug,
        shipping,
        training,
        entities,
        shard: flags.shard,
        entity: None,
        detection,
        model_name,
        model_path,
        scenario: scenario_info,
        injection,
        window: flags.window,
        warnings,
    })
}

fn value_error(origin: &str, key: &str, problem: impl Into<String>) -> Error {
    Error::ConfigValue {
        origin: origin.to_string(),
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// A value given on the command line, in the shape of a picked one.
fn from_flag<T>(value: T, path: &'static str) -> Pick<T> {
    Pick {
        value,
        origin: CLI.to_owned(),
        path,
    }
}

/// `wazuh.*`: URL (or `SONAR_WAZUH_URL`), credentials, TLS, index names, paging, timeouts.
fn wazuh(
    layers: &Layers<'_>,
    env: &Environment,
    warnings: &mut Vec<String>,
) -> Result<WazuhSettings, Error> {
    let mut base = layers.value(&keys::BASE_URL)?;
    if let Some(v) = env.get(ENV_URL) {
        base = Pick {
            value: v.to_string(),
            origin: format!("environment variable {ENV_URL}"),
            path: "wazuh.base_url",
        };
    }
    let base_url = url::Url::parse(&base.value).map_err(|e| {
        value_error(
            &base.origin,
            base.path,
            format!("not a URL ({e}): {:?}", base.value),
        )
    })?;
    if !matches!(base_url.scheme(), "http" | "https") {
        return Err(value_error(
            &base.origin,
            base.path,
            "must start with https:// or http://",
        ));
    }
    let mut username = layers.value(&keys::USERNAME)?.value;
    if let Some(v) = env.get(ENV_USERNAME) {
        username = v.to_string();
    }
    let (password, password_origin) = resolve_password(env, layers)?;
    let ca_cert = layers.given(&keys::CA_CERT)?.map(|p| p.value);
    let tls = match layers.value(&keys::VERIFY_SSL)?.value {
        VerifySsl::Flag(verify) => Tls { verify, ca_cert },
        VerifySsl::CaBundle(path) => Tls {
            verify: true,
            ca_cert: Some(path),
        },
    };
    // One warning per insecure connection, worded for what is actually insecure: on plain
    // http there is no certificate to verify, so `verify_ssl` does not matter there.
    if base_url.scheme() == "http" {
        if password_origin != SecretOrigin::BuiltInDefault || !tls.verify {
            warnings.push(format!(
                "connection to {base_url} is not encrypted (http): credentials and alerts travel in clear text; use https://"
            ));
        }
    } else if !tls.verify {
        warnings.push(format!(
            "wazuh.verify_ssl is false: the TLS certificate of {base_url} is NOT verified (anyone on the path can read the password); set a CA with wazuh.ca_cert instead"
        ));
    }
    let page = layers.value(&keys::PAGE_SIZE)?;
    if !(1..=10_000).contains(&page.value) {
        return Err(value_error(
            &page.origin,
            page.path,
            format!("must be between 1 and 10000, found {}", page.value),
        ));
    }
    Ok(WazuhSettings {
        base_url,
        username,
        password,
        password_origin,
        tls,
        alerts_index_pattern: non_empty(layers.value(&keys::ALERTS_INDEX_PATTERN)?)?,
        anomalies_index: non_empty(layers.value(&keys::ANOMALIES_INDEX)?)?,
        page_size: page.value as u32,
        server_features: layers.value(&keys::SERVER_FEATURES)?.value,
        connect_timeout: Duration::from_secs(positive(
            layers.value(&keys::CONNECT_TIMEOUT_SECONDS)?,
        )?),
        request_timeout: Duration::from_secs(positive(
            layers.value(&keys::REQUEST_TIMEOUT_SECONDS)?,
        )?),
        max_retries: layers.value(&keys::MAX_RETRIES)?.value.min(100) as u32,
    })
}

/// The password: `SONAR_WAZUH_PASSWORD` > scenario (file, then inline) > config (file, then
/// inline) > the built-in default. Naming both `password` and `password_file` in one file is
/// an error.
fn resolve_password(
    env: &Environment,
    layers: &Layers<'_>,
) -> Result<(Secret, SecretOrigin), Error> {
    if let Some(v) = env.get(ENV_PASSWORD) {
        return Ok((Secret::new(v), SecretOrigin::Environment));
    }
    let (inline, file) = (&keys::PASSWORD, &keys::PASSWORD_FILE);
    for layer in [Layer::Scenario, Layer::Config] {
        let given = layers.in_layer::<&str>(layer, inline.config, inline.scenario)?;
        let path = layers.in_layer::<super::key::FilePath>(layer, file.config, file.scenario)?;
        match (given, path) {
            (Some(_), Some(path)) => {
                return Err(value_error(
                    &path.origin,
                    path.path,
                    "give either wazuh.password or wazuh.password_file, not both",
                ));
            }
            (None, Some(path)) => return read_password_file(&path),
            (Some(p), None) => return Ok((Secret::new(p.value), SecretOrigin::ConfigFile)),
            (None, None) => {}
        }
    }
    Ok((
        Secret::new(WazuhSettings::DEFAULT_PASSWORD),
        SecretOrigin::BuiltInDefault,
    ))
}

/// The first line of `wazuh.password_file`.
fn read_password_file(file: &Pick<PathBuf>) -> Result<(Secret, SecretOrigin), Error> {
    let path = &file.value;
    let text = std::fs::read_to_string(path).map_err(|e| {
        value_error(
            &file.origin,
            file.path,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(value_error(
            &file.origin,
            file.path,
            format!(
                "{} is empty; its first line must be the password",
                path.display()
            ),
        ));
    }
    Ok((Secret::new(first), SecretOrigin::PasswordFile))
}

/// `mvad.*` (or the scenario's `training.*` of the same names).
fn mvad(layers: &Layers<'_>, warnings: &mut Vec<String>) -> Result<MvadSettings, Error> {
    let window = layers.value(&keys::SLIDING_WINDOW)?;
    let sliding_window = SlidingWindow::new(window.value)
        .map_err(|p| value_error(&window.origin, window.path, p))?;
    let dev = layers.value(&keys::DEVICE)?;
    let device = match dev.value.to_ascii_lowercase().as_str() {
        "cpu" => Device::Cpu,
        "cuda" | "gpu" => Device::Gpu,
        other => {
            return Err(value_error(
                &dev.origin,
                dev.path,
                format!("unknown device {other:?}; use cpu or cuda"),
            ))
        }
    };
    // Each layer's map is checked on its own, so a message names the file and section that
    // hold the key; the scenario's keys then replace the config's one by one.
    let mut extra_params = serde_json::Map::new();
    let key = &keys::EXTRA_PARAMS;
    for layer in [Layer::Config, Layer::Scenario] {
        let Some(given) =
            layers.in_layer::<super::key::FreeMap>(layer, key.config, key.scenario)?
        else {
            continue;
        };
        extra_params.extend(check_extra_params(
            &given.value,
            &given.origin,
            given.path,
            warnings,
        )?);
    }
    Ok(MvadSettings {
        sliding_window,
        sliding_window_given: layers.is_given(&keys::SLIDING_WINDOW)?,
        device,
        extra_params,
    })
}

/// `features.*` (or the scenario's `training.*` of the same names) and `wazuh.timestamp_field`;
/// `alert_filter` apart, with where it came from.
fn features(layers: &Layers<'_>) -> Result<(FeatureSpec, Option<Pick<JsonMap>>), Error> {
    let bucket = layers.value(&keys::BUCKET_MINUTES)?;
    if !(1..=1440).contains(&bucket.value) {
        return Err(value_error(
            &bucket.origin,
            bucket.path,
            format!("must be between 1 and 1440, found {}", bucket.value),
        ));
    }
    let numeric_fields = fields(layers.value(&keys::NUMERIC_FIELDS)?)?;
    let max = layers.value(&keys::MAX_NUMERIC_FIELDS)?;
    let (max_origin, max_path) = (max.origin.clone(), max.path);
    let max_numeric_fields = fields(max)?;
    if let Some(stray) = max_numeric_fields
        .iter()
        .find(|m| !numeric_fields.contains(m))
    {
        return Err(value_error(&max_origin, max_path, format!("{stray:?} is not in numeric_fields; add it there too (the max column is built from the same values)")));
    }
    let spec = FeatureSpec {
        bucket_minutes: bucket.value as u32,
        numeric_fields,
        max_numeric_fields,
        categorical_fields: fields(layers.value(&keys::CATEGORICAL_FIELDS)?)?,
        categorical_top_k: layers.value(&keys::CATEGORICAL_TOP_K)?.value as usize,
        derived_features: layers.value(&keys::DERIVED_FEATURES)?.value,
        timestamp_field: non_empty(layers.value(&keys::TIMESTAMP_FIELD)?)?,
    };
    Ok((spec, layers.given(&keys::ALERT_FILTER)?))
}

/// Debug mode evaluates `alert_filter` on local files itself: refuse here, naming the file and
/// the clause, what it cannot evaluate (the indexer evaluates it otherwise).
fn check_local_filter(filter: Option<&Pick<JsonMap>>) -> Result<(), Error> {
    let Some(filter) = filter else {
        return Ok(());
    };
    let section = filter.path.split('.').next().unwrap_or("features");
    AlertFilter::parse(&serde_json::Value::Object(filter.value.clone())).map_err(|e| match e {
        Error::AlertFilter { at, problem } => value_error(
            &filter.origin,
            &format!("{section}.{at}"),
            format!("{problem} (debug mode evaluates alert_filter on the local files itself)"),
        ),
        other => other,
    })?;
    Ok(())
}

/// The model name (`--model-name` > the scenario's > its name's slug) and the model path.
fn model(
    layers: &Layers<'_>,
    flags: &Overrides,
    warnings: &mut Vec<String>,
) -> Result<(String, PathBuf), Error> {
    let scenario = layers.scenario;
    let model_name = match (&flags.model_name, scenario) {
        (Some(name), _) => name.clone(),
        (None, Some(_)) => match layers.given(&keys::MODEL_NAME)? {
            Some(given) => given.value,
            None => slug(&layers.value(&keys::NAME)?.value),
        },
        (None, None) => Settings::DEFAULT_MODEL_NAME.to_owned(),
    };
    if model_name.is_empty() || model_name.contains(['/', '\\']) || model_name.starts_with('.') {
        let origin = match (&flags.model_name, scenario) {
            (Some(_), _) => CLI.to_string(),
            (None, Some(l)) => l.path.display().to_string(),
            (None, None) => "(no scenario)".to_string(),
        };
        return Err(value_error(
            &origin,
            "model_name",
            format!(
                "{model_name:?} must be a plain file name (no directories, not starting with '.')"
            ),
        ));
    }
    let given = layers.value(&keys::MODEL_PATH)?;
    let mut config_model_path = given.value;
    if config_model_path.extension().is_some_and(|e| e == "pkl") {
        warnings.push(format!("{}: model_path {} names a pickle file; SONAR never writes pickle, it uses {} (weights + JSON metadata)", given.origin, config_model_path.display(), config_model_path.with_extension("").display()));
        config_model_path.set_extension("");
    }
    let model_path = normalise_path(&if scenario.is_some() || flags.model_name.is_some() {
        config_model_path
            .parent()
            .map(|d| d.join(&model_name))
            .unwrap_or_else(|| PathBuf::from(&model_name))
    } else {
        config_model_path
    });
    Ok((model_name, model_path))
}

/// `shipping.*`: the stream id (default: the model name) and whether to ship.
fn shipping(
    layers: &Layers<'_>,
    flags: &Overrides,
    model_name: &str,
    debug_enabled: bool,
    warnings: &mut Vec<String>,
) -> Result<ShippingSettings, Error> {
    let id = layers.given(&keys::SCENARIO_ID)?.unwrap_or_else(|| Pick {
        value: model_name.to_owned(),
        origin: BUILT_IN.to_owned(),
        path: "shipping.scenario_id",
    });
    if id.value.is_empty()
        || !id
            .value
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')
    {
        return Err(value_error(&id.origin, id.path, format!("{:?} must be lowercase letters, digits, '_' or '-' (it becomes part of a data stream name)", id.value)));
    }
    let ship_wanted = flags.ship || layers.value(&keys::SHIP_ENABLED)?.value;
    if ship_wanted && debug_enabled {
        warnings.push("shipping is off in debug mode: anomalies go to the local JSONL file".into());
    }
    Ok(ShippingSettings {
        enabled: ship_wanted && !debug_enabled,
        install_templates: layers.value(&keys::INSTALL_TEMPLATES)?.value,
        scenario_id: id.value,
    })
}

/// `debug.*`: the switch and the resolved files.
fn debug(layers: &Layers<'_>, enabled: bool, scenario_id: &str) -> Result<DebugSettings, Error> {
    let data_dir = layers.value(&keys::DATA_DIR)?.value;
    let train_file = layers.value(&keys::TRAINING_DATA_FILE)?.value;
    let detect_file = layers.value(&keys::DETECTION_DATA_FILE)?.value;
    let anomalies_file = match layers.given(&keys::ANOMALIES_FILE)? {
        Some(given) => given.value,
        None => PathBuf::from("sonar-debug").join(format!("{scenario_id}.anomalies.jsonl")),
    };
    Ok(DebugSettings {
        enabled,
        training_data: normalise_path(&data_dir.join(train_file)),
        detection_data: normalise_path(&data_dir.join(detect_file)),
        anomalies_file: normalise_path(&anomalies_file),
    })
}

/// The scenario's `training:` extras, and the injection placement `synthetic_mode` may name.
fn training(
    layers: &Layers<'_>,
    flags: &Overrides,
    sliding_window: SlidingWindow,
    features: &FeatureSpec,
) -> Result<(TrainingSettings, Option<Placement>), Error> {
    let lookback = match flags.lookback_hours {
        Some(h) => from_flag(h, "training.lookback_hours"),
        None => layers.value(&keys::LOOKBACK_HOURS)?,
    };
    let lookback_hours = bounded(lookback, MAX_LOOKBACK_MINUTES / 60)?;
    let min_needed = sliding_window.get() as u64 + 1;
    let given_min = layers.given(&keys::MIN_SAMPLES)?;
    let min_samples = match &given_min {
        Some(n) if n.value < min_needed => return Err(value_error(&n.origin, n.path, format!("{} is below what MVAD needs to train with sliding_window {} ({min_needed} buckets); raise it or remove the key", n.value, sliding_window.get()))),
        Some(n) => n.value,
        None => min_needed,
    };
    let (values, file_placement) = match layers.given(&keys::SYNTHETIC_MODE)? {
        None => (ValueMode::Random, None),
        Some(mode) => match (mode.value.parse::<ValueMode>(), mode.value.parse::<Placement>()) {
            (Ok(v), _) => (v, None),
            (_, Ok(p)) => (ValueMode::Random, Some(p)),
            _ => return Err(value_error(&mode.origin, mode.path, format!("unknown mode {:?}; use constant, random or copy (padding values) or append, prepend or only (injection)", mode.value))),
        },
    };
    let level = layers.value(&keys::SYNTHETIC_LEVEL)?;
    if level.value > 16 {
        return Err(value_error(
            &level.origin,
            level.path,
            format!("Wazuh rule levels are 0..=16, found {}", level.value),
        ));
    }
    let srcip = layers.value(&keys::SYNTHETIC_SRCIP)?;
    let srcip = srcip.value.parse::<IpAddr>().map_err(|_| {
        value_error(
            &srcip.origin,
            srcip.path,
            format!("{:?} is not an IP address", srcip.value),
        )
    })?;
    let synthetic = SyntheticSpec {
        values,
        level: level.value as u8,
        srcip,
        min_count: layers.value(&keys::TRAINING_SYNTHETIC_COUNT)?.value as usize,
        numeric_fields: features.numeric_fields.clone(),
        categorical_fields: features.categorical_fields.clone(),
        timestamp_field: features.timestamp_field.clone(),
    };
    let training = TrainingSettings {
        lookback: Duration::from_secs(lookback_hours * 3600),
        min_samples: min_samples as usize,
        min_samples_given: given_min.is_some(),
        fill_with_synthetic: flags.fill_with_synthetic
            || layers.value(&keys::TRAINING_FILL_WITH_SYNTHETIC)?.value,
        retrain_every: layers
            .given(&keys::RETRAIN_EVERY_HOURS)?
            .map(|p| p.value)
            .filter(|h| *h > 0)
            .map(|h| Duration::from_secs(h.saturating_mul(3600))),
        synthetic,
    };
    Ok((training, file_placement))
}

/// `training.entity_field` and `training.max_entities` (docs/entities.md): `None` when no
/// entity field is given (`max_entities` alone is then ignored with the rest of the defaults).
fn entities(layers: &Layers<'_>) -> Result<Option<EntitySettings>, Error> {
    let Some(given) = layers.given(&keys::ENTITY_FIELD)? else {
        return Ok(None);
    };
    let (origin, path) = (given.origin.clone(), given.path);
    let fields = fields(given)?;
    if fields.is_empty() || fields.len() > EntitySettings::MAX_FIELDS {
        return Err(value_error(
            &origin,
            path,
            format!(
                "give one field path or a list of at most {} (found {}); remove the key to score the whole fleet as one series",
                EntitySettings::MAX_FIELDS,
                fields.len()
            ),
        ));
    }
    if fields.len() == 2 && fields[0] == fields[1] {
        return Err(value_error(
            &origin,
            path,
            format!("{:?} is listed twice", fields[0]),
        ));
    }
    let max = layers.value(&keys::MAX_ENTITIES)?;
    if max.value == 0 {
        return Err(value_error(
            &max.origin,
            max.path,
            "must be at least 1 (the entities with the most training alerts get a model)",
        ));
    }
    let model = match layers.given(&keys::ENTITY_MODEL)? {
        None => EntityModel::default(),
        Some(given) => given
            .value
            .parse::<EntityModel>()
            .map_err(|problem| value_error(&given.origin, given.path, problem))?,
    };
    Ok(Some(EntitySettings {
        fields,
        max_entities: usize::try_from(max.value).unwrap_or(usize::MAX),
        model,
    }))
}

/// The scenario's `detection:` section.
fn detection(
    layers: &Layers<'_>,
    flags: &Overrides,
    bucket_minutes: u32,
) -> Result<DetectionSettings, Error> {
    let mode = match flags.mode {
        Some(m) => m,
        None => {
            let mode = layers.value(&keys::MODE)?;
            mode.value
                .parse()
                .map_err(|p: String| value_error(&mode.origin, mode.path, p))?
        }
    };
    let lookback = match flags.lookback_minutes {
        Some(m) => from_flag(m, "detection.lookback_minutes"),
        None => layers.value(&keys::LOOKBACK_MINUTES)?,
    };
    let lookback_minutes = bounded(lookback, MAX_LOOKBACK_MINUTES)?;
    let polling = match layers.given(&keys::POLLING_INTERVAL_SECONDS)? {
        Some(p) if p.value == 0 => {
            return Err(value_error(
                &p.origin,
                p.path,
                "must be at least 1 (remove the key to poll once per bucket)",
            ))
        }
        Some(p) => p.value,
        None => u64::from(bucket_minutes) * 60,
    };
    let min_consecutive = layers.value(&keys::MIN_CONSECUTIVE)?;
    if min_consecutive.value == 0 {
        return Err(value_error(
            &min_consecutive.origin,
            min_consecutive.path,
            "must be at least 1",
        ));
    }
    let rule = layers.value(&keys::THRESHOLD_RULE)?;
    let threshold_rule = match rule.value.as_str() {
        "lagged" => sonar_mvad::ThresholdRule::Lagged,
        "trailing" => sonar_mvad::ThresholdRule::Trailing,
        other => {
            return Err(value_error(
                &rule.origin,
                rule.path,
                format!("must be `lagged` or `trailing`, found `{other}`"),
            ))
        }
    };
    let payload_dir = match &flags.payload_dir {
        Some(dir) => dir.clone(),
        None => layers.value(&keys::PAYLOAD_DIR)?.value,
    };
    Ok(DetectionSettings {
        mode,
        lookback: Duration::from_secs(lookback_minutes * 60),
        polling_interval: Duration::from_secs(polling),
        ingestion_delay: Duration::from_secs(layers.value(&keys::INGESTION_DELAY_SECONDS)?.value),
        threshold: threshold(layers, bucket_minutes)?,
        min_consecutive: min_consecutive.value.min(u64::from(u32::MAX)) as u32,
        threshold_rule,
        top_contributors: layers.value(&keys::TOP_CONTRIBUTORS)?.value as usize,
        payloads: PayloadSettings {
            print: flags.print_payloads || layers.value(&keys::PRINT_PAYLOADS)?.value,
            dry_run: flags.dry_run || layers.value(&keys::DRY_RUN)?.value,
            dir: normalise_path(&payload_dir),
        },
        fill_with_synthetic: flags.fill_with_synthetic
            || layers.value(&keys::DETECTION_FILL_WITH_SYNTHETIC)?.value,
        synthetic_count: layers.value(&keys::DETECTION_SYNTHETIC_COUNT)?.value as usize,
    })
}

/// `detection.threshold`, or the one `detection.false_alarm_rate` implies (not both).
fn threshold(layers: &Layers<'_>, bucket_minutes: u32) -> Result<f64, Error> {
    let rate = layers.value(&keys::FALSE_ALARM_RATE)?;
    let threshold = match layers.given(&keys::THRESHOLD)? {
        Some(_) if layers.is_given(&keys::FALSE_ALARM_RATE)? => {
            return Err(value_error(
                &rate.origin,
                rate.path,
                "set either detection.threshold or detection.false_alarm_rate, not both",
            ))
        }
        Some(t) => t,
        None => {
            let buckets_per_day = 1440.0 / f64::from(bucket_minutes);
            if !(rate.value.is_finite() && rate.value > 0.0 && rate.value < buckets_per_day) {
                return Err(value_error(
                    &rate.origin,
                    rate.path,
                    format!(
                        "must be above 0 and below the {buckets_per_day} buckets of a day, found {}",
                        rate.value
                    ),
                ));
            }
            return Ok(crate::detect::threshold_for_rate(
                rate.value,
                bucket_minutes,
            ));
        }
    };
    if !(0.0..=1.0).contains(&threshold.value) {
        return Err(value_error(
            &threshold.origin,
            threshold.path,
            format!(
                "must be between 0 and 1 (anomaly_score is in [0, 1]), found {}",
                threshold.value
            ),
        ));
    }
    Ok(threshold.value)
}

/// `--start` / `--end` against each other and the mode.
fn check_window(flags: &Overrides, detection: &DetectionSettings) -> Result<(), Error> {
    if let (Some(start), Some(end)) = (flags.window.start, flags.window.end) {
        if start >= end {
            return Err(value_error(
                CLI,
                "--start",
                format!("{start} is not before --end {end}"),
            ));
        }
    }
    if flags.window.is_set() && detection.mode == DetectionMode::Realtime {
        return Err(value_error(
            CLI,
            "--start",
            "realtime mode polls from now on; use --start/--end with a historical or batch run",
        ));
    }
    Ok(())
}

/// `--synthetic-count N` (flags only; the placement may come from `training.synthetic_mode`).
fn injection(
    flags: &Overrides,
    file_placement: Option<Placement>,
    synthetic: &SyntheticSpec,
    warnings: &mut Vec<String>,
) -> Result<Option<Injection>, Error> {
    let Some(count) = flags.synthetic_count else {
        if flags.synthetic_mode.is_some()
            || flags.synthetic_level.is_some()
            || flags.synthetic_srcip.is_some()
        {
            warnings.push("--synthetic-mode/--synthetic-level/--synthetic-srcip do nothing without --synthetic-count N".into());
        }
        return Ok(None);
    };
    if count == 0 {
        return Err(value_error(CLI, "--synthetic-count", "must be at least 1"));
    }
    let level = flags
        .synthetic_level
        .unwrap_or(u64::from(SyntheticSpec::DEFAULT_LEVEL));
    if level > 16 {
        return Err(value_error(
            CLI,
            "--synthetic-level",
            format!("Wazuh rule levels are 0..=16, found {level}"),
        ));
    }
    Ok(Some(Injection {
        count: count as usize,
        placement: flags
            .synthetic_mode
            .or(file_placement)
            .unwrap_or(Placement::Append),
        spec: SyntheticSpec {
            values: ValueMode::Constant,
            level: level as u8,
            srcip: flags.synthetic_srcip.unwrap_or(synthetic.srcip),
            ..synthetic.clone()
        },
    }))
}

/// At least 1 and at most `max` (100 years).
fn bounded(p: Pick<u64>, max: u64) -> Result<u64, Error> {
    if p.value > max {
        return Err(value_error(
            &p.origin,
            p.path,
            format!("must be at most {max} (100 years), found {}", p.value),
        ));
    }
    positive(p)
}

fn positive(p: Pick<u64>) -> Result<u64, Error> {
    if p.value == 0 {
        return Err(value_error(&p.origin, p.path, "must be at least 1"));
    }
    Ok(p.value)
}

fn non_empty(p: Pick<String>) -> Result<String, Error> {
    if p.value.trim().is_empty() {
        return Err(value_error(&p.origin, p.path, "must not be empty"));
    }
    Ok(p.value)
}

/// A list of dotted field paths.
fn fields(p: Pick<Vec<String>>) -> Result<Vec<String>, Error> {
    if let Some(bad) = p
        .value
        .iter()
        .find(|f| f.trim().is_empty() || f.starts_with('.') || f.ends_with('.') || f.contains(".."))
    {
        return Err(value_error(
            &p.origin,
            p.path,
            format!("{bad:?} is not a dotted field path like \"rule.level\""),
        ));
    }
    Ok(p.value)
}

/// Checks one layer's `extra_params` (`section` is `mvad.extra_params` or
/// `training.extra_params`, the key path messages name) and returns the parameters the
/// engine will use. The engine's own parsing is the one list of parameters and their
/// checks: a value it refuses is an error naming this file and key; a name it does not know
/// is a warning, and is dropped so that it cannot fail the run later.
fn check_extra_params(
    params: &serde_json::Map<String, serde_json::Value>,
    origin: &str,
    section: &str,
    warnings: &mut Vec<String>,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    let mut kept = serde_json::Map::new();
    for (name, value) in params {
        let key = format!("{section}.{name}");
        match name.as_str() {
            "sliding_window" | "device" => {
                return Err(value_error(
                    origin,
                    &key,
                    format!(
                        "set {name} directly (training.{name} or mvad.{name}), not in extra_params"
                    ),
                ));
            }
            "save" => warnings.push(format!(
                "{origin}: `{key}` is ignored; model files go to model_path"
            )),
            _ => {
                kept.insert(name.clone(), value.clone());
            }
        }
    }
    // The whole layer at once, so that parameters checked together (train_ratio and
    // val_ratio) are; each unknown name is dropped with its warning and the rest tried again.
    loop {
        let all = serde_json::Value::Object(kept.clone());
        match sonar_mvad::MvadParams::default().apply_json(&all) {
            Ok(_) => break,
            Err(sonar_mvad::MvadError::UnknownParam(name)) => {
                let hint = match name.as_str() {
                    "learning_rate" => "; did you mean `lr`?",
                    "patience" => "; did you mean `early_stopping_patience`?",
                    _ => "",
                };
                warnings.push(format!(
                    "{origin}: `{section}.{name}` is not an MVAD parameter and is ignored{hint}"
                ));
                kept.remove(&name);
            }
            Err(e) => {
                let key = match &e {
                    sonar_mvad::MvadError::InvalidParam { name, .. }
                        if kept.contains_key(*name) =>
                    {
                        format!("{section}.{name}")
                    }
                    sonar_mvad::MvadError::InvalidParam { name, .. }
                        if name.starts_with("scoring") =>
                    {
                        format!("{section}.scoring")
                    }
                    _ => section.to_string(),
                };
                return Err(value_error(origin, &key, e.to_string()));
            }
        }
    }
    Ok(kept)
}
