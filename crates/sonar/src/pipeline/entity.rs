//! Per-entity scenarios (docs/configuration.md `training.entity_field`, docs/entities.md): a
//! scenario split by a host, account or address field trains one model per entity and scores
//! each entity's own series, so every anomaly document says which entity it is about.
//!
//! An entity's run is the scenario's run restricted to that entity: the scenario's
//! `alert_filter` and a `term` on each entity field, its own model directory, and the entity
//! in its documents and in their ids ([`crate::detect::entity`]). Training and detection are
//! the one-entity [`super::train()`] and [`super::detect()`], called once per entity.
//!
//! Which entities: the `training.max_entities` values with the most alerts in the training
//! window (ties by value). Alerts whose entity field is missing, empty or not a single value
//! belong to no entity; they, the entities past `max_entities`, and entities first seen at
//! detection time are counted and reported by name, never dropped silently: a new host or
//! account is worth a look. Retraining takes the new ones in.
//!
//! The model set is one unit on disk (docs/entities.md "Model set"): the members are written
//! into a new generation directory, then `entities.json` (every member's files with their
//! SHA-256) replaces the previous manifest atomically, then older generations are removed. A
//! crash before the rename leaves the previous set loadable; a damaged or replaced member
//! file is refused at load, naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::detect::{detect_from, historical_range, DetectOutcome, DetectRequest, LoadedModel};
use super::fetch::Prefetched;
use super::realtime::{LoopLimit, PollResult, Poller};
use super::train::{
    save_trained, train_from, training_data, training_range, TrainOutcome, TrainingData,
};
use super::{open_source, Clock, Phase, Progress, RunSummary, StopFlag};
use crate::config::Settings;
use crate::detect::entity::{value_text, Entity};
use crate::features::FeatureSchema;
use crate::field::FieldPath;
use crate::sink::AnomalySink;
use crate::source::{AlertQuery, EntityFeatures, EntityMatrices, TimeRange};
use crate::Error;

/// The manifest of a model set, in the scenario's model directory.
pub const MANIFEST_FILE: &str = "entities.json";
/// Manifest format version.
const MANIFEST_FORMAT: u32 = 1;
/// Files of one member model that the manifest checks.
const MEMBER_FILES: [&str; 2] = [sonar_mvad::WEIGHTS_FILE, sonar_mvad::META_FILE];
/// Entities named in one log line or message before "and N more".
const NAMED: usize = 5;

/// `training.entity_field` and `training.max_entities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitySettings {
    /// One or two field paths whose values name an entity.
    pub fields: Vec<String>,
    /// Entities modelled at most (those with the most training alerts).
    pub max_entities: usize,
    /// `training.entity_model`: one network per entity, or one shared.
    pub model: EntityModel,
}

/// `training.entity_model` (docs/entities.md "One model per entity or one shared").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityModel {
    /// Each entity's own network, trained on its own series, with its own vocabularies.
    #[default]
    PerEntity,
    /// One network trained on the busiest entities' series ([`SHARED_TRAINING_ENTITIES`])
    /// with the fleet's vocabularies; each member keeps its own normalisation, error
    /// scales, calibration and threshold, measured on its own series.
    Shared,
}

impl std::str::FromStr for EntityModel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "per_entity" => Ok(Self::PerEntity),
            "shared" => Ok(Self::Shared),
            other => Err(format!(
                "unknown entity model {other:?}; use per_entity or shared"
            )),
        }
    }
}

impl EntitySettings {
    /// `training.max_entities` when none is given.
    pub const DEFAULT_MAX_ENTITIES: u64 = 100;
    /// Entity fields at most (as OpenSearch AD's category fields).
    pub const MAX_FIELDS: usize = 2;
}

/// `--shard I/N`: this process handles the entities whose stable hash
/// ([`Entity::shard`]) falls in shard `index` of `count` (1-based), so N processes split a
/// scenario's entities and together write exactly the documents one process writes. Each
/// shard keeps its own model set, `<model_path>/shard-I-of-N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's shard, 1 ..= `count`.
    pub index: u32,
    /// Processes sharing the scenario.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not I/N with 1 ≤ I ≤ N (e.g. 1/2)");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether `entity` belongs to this shard.
    pub fn owns(&self, entity: &Entity) -> bool {
        entity.shard(self.count) == self.index
    }
}

/// The directory of the run's model set: `model_path`, or `model_path/shard-I-of-N` for a
/// sharded run.
pub fn set_dir(settings: &Settings) -> PathBuf {
    match settings.shard {
        Some(s) => settings
            .model_path
            .join(format!("shard-{}-of-{}", s.index, s.count)),
        None => settings.model_path.clone(),
    }
}

/// Alerts per entity over a range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Census {
    /// Alerts of each entity.
    pub counts: BTreeMap<Entity, u64>,
    /// Alerts read.
    pub alerts: u64,
    /// Alerts whose entity field is missing, empty or not a single value.
    pub without_entity: u64,
}

impl Census {
    /// Entities by alert count, most first (ties by entity).
    pub fn ranked(&self) -> Vec<(Entity, u64)> {
        let mut ranked: Vec<(Entity, u64)> =
            self.counts.iter().map(|(e, n)| (e.clone(), *n)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked
    }
}

/// Counts the alerts of each entity in `range` (the scenario's `alert_filter` applies).
pub fn census(
    settings: &Settings,
    entities: &EntitySettings,
    phase: Phase,
    range: TimeRange,
    stop: &StopFlag,
) -> Result<Census, Error> {
    let paths = entities
        .fields
        .iter()
        .map(|f| {
            FieldPath::parse(f).ok_or_else(|| Error::Entities {
                scenario: scenario_name(settings),
                problem: format!("`training.entity_field` {f:?} is not a dotted field path"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut fields = vec![settings.features.timestamp_field.clone()];
    fields.extend(entities.fields.iter().cloned());
    let query = AlertQuery {
        range,
        timestamp_field: settings.features.timestamp_field.clone(),
        fields,
        alert_filter: settings.alert_filter.clone(),
    };
    let mut census = Census::default();
    let mut source = open_source(settings, phase)?;
    if settings.wazuh.server_features {
        let counting = AlertQuery {
            fields: Vec::new(),
            ..query.clone()
        };
        if let Some(counted) = source.count_entities(&counting, &entities.fields)? {
            census.alerts = counted.alerts;
            let mut with_entity = 0;
            for (values, alerts) in counted.counts {
                with_entity += alerts;
                *census
                    .counts
                    .entry(Entity::new(&entities.fields, values))
                    .or_default() += alerts;
            }
            census.without_entity = counted.alerts.saturating_sub(with_entity);
            return Ok(census);
        }
    }
    source.stream(&query, &mut |page| {
        if stop.is_raised() {
            return Err(Error::Stopped {
                during: "counting entities",
            });
        }
        for alert in &page {
            census.alerts += 1;
            let values: Option<Vec<String>> =
                paths.iter().map(|p| value_text(p.lookup(alert))).collect();
            match values {
                Some(values) => {
                    *census
                        .counts
                        .entry(Entity::new(&entities.fields, values))
                        .or_default() += 1;
                }
                None => census.without_entity += 1,
            }
        }
        Ok(())
    })?;
    Ok(census)
}

/// Entities per pass of the indexer's per-entity features (`AlertSource::entity_features`):
/// bounds the matrices held at once.
const ENTITY_BATCH: usize = 50;

/// Whether entities' features are computed together by the source before their runs: the
/// indexer's aggregations are on and nothing synthetic is mixed in.
fn prefetches(settings: &Settings) -> bool {
    settings.wazuh.server_features && settings.injection.is_none()
}

/// The scenario's alerts of `keys` (values of `fields`, in order) over `range`.
fn batch_query(
    settings: &Settings,
    fields: &[String],
    range: TimeRange,
    keys: &[Vec<String>],
) -> AlertQuery {
    let restriction = match fields {
        [field] => {
            json!({ "terms": { field.clone(): keys.iter().map(|k| k[0].clone()).collect::<Vec<_>>() } })
        }
        _ => {
            let each: Vec<Value> = keys
                .iter()
                .map(|key| {
                    let terms: Vec<Value> = fields
                        .iter()
                        .zip(key)
                        .map(|(f, v)| json!({ "term": { f.clone(): v.clone() } }))
                        .collect();
                    json!({ "bool": { "filter": terms } })
                })
                .collect();
            json!({ "bool": { "should": each, "minimum_should_match": 1 } })
        }
    };
    let mut must: Vec<Value> = settings.alert_filter.iter().cloned().collect();
    must.push(restriction);
    AlertQuery {
        range,
        timestamp_field: settings.features.timestamp_field.clone(),
        fields: Vec::new(),
        alert_filter: Some(json!({ "bool": { "filter": must } })),
    }
}

/// The features of a batch of entities over `span` in one pass
/// ([`crate::source::AlertSource::entity_features`]); the entities are those `features` names.
fn batch_features(
    source: &mut dyn crate::source::AlertSource,
    settings: &Settings,
    entities: &EntitySettings,
    span: TimeRange,
    features: EntityFeatures<'_>,
) -> Result<Option<EntityMatrices>, Error> {
    let keys: Vec<Vec<String>> = match features {
        EntityFeatures::Training { entities, .. } => entities.to_vec(),
        EntityFeatures::Detection { schemas } => schemas.iter().map(|(k, _)| k.clone()).collect(),
    };
    let query = batch_query(settings, &entities.fields, span, &keys);
    source.entity_features(&query, &entities.fields, features)
}

/// Every one of `keys` with the same `schema` (a shared set's members).
fn keyed<'s>(
    keys: &[Vec<String>],
    schema: &'s FeatureSchema,
) -> Vec<(Vec<String>, &'s FeatureSchema)> {
    keys.iter().map(|key| (key.clone(), schema)).collect()
}

/// A training failure of `entity`, naming it.
fn training_failed(settings: &Settings, entity: &Entity, e: Error) -> Error {
    Error::Entities {
        scenario: scenario_name(settings),
        problem: format!("training entity {}: {e}", entity.label()),
    }
}

/// The settings of one entity's run: the scenario's, restricted to `entity`, with the model
/// directory `model_dir`.
pub fn entity_settings(settings: &Settings, entity: &Entity, model_dir: PathBuf) -> Settings {
    let mut must: Vec<Value> = settings.alert_filter.iter().cloned().collect();
    must.extend(
        entity
            .0
            .iter()
            .map(|v| json!({"term": {v.name.clone(): v.value.clone()}})),
    );
    let mut run = settings.clone();
    run.alert_filter = Some(json!({"bool": {"filter": must}}));
    run.model_path = model_dir;
    run.entity = Some(entity.clone());
    run
}

/// One member of a model set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The entity.
    pub entity: Entity,
    /// Its directory, relative to the set's directory (`<generation>/<slug>`).
    pub dir: String,
    /// Its alerts in the training window.
    pub training_alerts: u64,
    /// SHA-256 (hex) of each model file.
    pub files: BTreeMap<String, String>,
}

/// A shared set's network file ([`Manifest::network`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkFile {
    /// Its path, relative to the set's directory (`<generation>/network/model.safetensors`).
    pub file: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// The directory of a shared set's network in a generation.
const NETWORK_DIR: &str = "network";

/// `entities.json`: what a scenario's model set holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub format: u32,
    /// The entity fields the set was split by.
    pub entity_fields: Vec<String>,
    /// One network per entity, or one shared (sets written before it existed: per entity).
    #[serde(default)]
    pub model: EntityModel,
    /// A shared set's network, stored once; its members store their metadata only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkFile>,
    /// The training window.
    pub training_start: DateTime<Utc>,
    /// Its end (exclusive).
    pub training_end: DateTime<Utc>,
    /// The members, most training alerts first.
    pub members: Vec<Member>,
    /// Entities of the training window left out by `max_entities`, and their alerts.
    pub not_modelled: Vec<(Entity, u64)>,
    /// Training alerts that named no entity.
    pub without_entity: u64,
}

/// Refuses what per-entity scenarios do not do yet: `sonar serve` (`serve` set; `sonar detect
/// --mode realtime` runs them, [`run_realtime_entities`]) and shipping to a data stream (its
/// template lists one model's columns; entities' models have their own). Detection documents
/// go to the debug file or the anomalies index.
pub fn check_supported(settings: &Settings, serve: bool) -> Result<(), Error> {
    let Some(entities) = &settings.entities else {
        return Ok(());
    };
    let what = if serve {
        "sonar serve (run `sonar detect --mode realtime` for this scenario instead)"
    } else if settings.shipping.enabled && !settings.debug.enabled {
        "shipping to a data stream (--ship, shipping.enabled)"
    } else {
        return Ok(());
    };
    Err(Error::Entities {
        scenario: scenario_name(settings),
        problem: format!(
            "split by `{}`: {what} does not split by entity yet; historical, batch and realtime `sonar detect` write to the anomalies index, or remove training.entity_field",
            entities.fields.join(", ")
        ),
    })
}

/// The manifest path of the set at `dir`.
pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST_FILE)
}

/// Whether a scenario's model exists: its model set's manifest for a per-entity scenario,
/// else its model directory's metadata.
pub fn model_exists(settings: &Settings) -> bool {
    if settings.entities.is_some() {
        manifest_path(&set_dir(settings)).is_file()
    } else {
        settings.model_path.join(sonar_mvad::META_FILE).is_file()
    }
}

fn scenario_name(settings: &Settings) -> String {
    settings
        .scenario
        .as_ref()
        .map_or_else(|| settings.model_name.clone(), |s| s.name.clone())
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

fn sha256_file(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(io("reading", path))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// "web-01 (281 alerts), dc-01 (79 alerts) and 3 more".
fn name_some(entities: &[(Entity, u64)]) -> String {
    let mut text = entities
        .iter()
        .take(NAMED)
        .map(|(e, n)| format!("{} ({n} alerts)", e.label()))
        .collect::<Vec<_>>()
        .join(", ");
    if entities.len() > NAMED {
        text.push_str(&format!(" and {} more", entities.len() - NAMED));
    }
    text
}

/// What training a model set did.
#[derive(Debug, Clone)]
pub struct EntityTrainOutcome {
    /// The set's directory.
    pub dir: PathBuf,
    /// The manifest written.
    pub manifest: Manifest,
    /// Each member's training run, in manifest order.
    pub members: Vec<TrainOutcome>,
    /// The counts of all members together.
    pub summary: RunSummary,
}

/// Trains one model per entity of the training window and writes the set under
/// `settings.model_path` (see the module doc).
pub fn train_entities(
    settings: &Settings,
    entities: &EntitySettings,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
    payload_dir_given: bool,
) -> Result<EntityTrainOutcome, Error> {
    let started = std::time::Instant::now();
    check_supported(settings, false)?;
    let plan = settings.features.validate()?;
    let range = training_range(settings, &plan, clock.now())?;
    progress.phase("counting entities");
    let census = census(settings, entities, Phase::Training, range, stop)?;
    let fields = entities.fields.join(", ");
    if census.counts.is_empty() {
        return Err(Error::Entities {
            scenario: scenario_name(settings),
            problem: format!(
                "none of the {} training alerts from {} to {} has a single non-empty value in `{fields}` (training.entity_field): check the field path; {} alerts had none",
                census.alerts, range.start, range.end, census.without_entity
            ),
        });
    }
    let mut ranked = census.ranked();
    let mut not_modelled = ranked.split_off(entities.max_entities.min(ranked.len()));
    // A shared network is trained on the busiest of all modelled entities, whichever shard
    // owns them, so that every shard trains the same one.
    let all_modelled = ranked.clone();
    if let Some(shard) = settings.shard {
        // Every shard ranks the same census, so the shards' members together are exactly the
        // unsharded set's.
        ranked.retain(|(e, _)| shard.owns(e));
        not_modelled.retain(|(e, _)| shard.owns(e));
        tracing::info!(shard = %shard, entities = ranked.len(), "this shard's entities");
    }
    if !not_modelled.is_empty() {
        tracing::warn!(
            entities = census.counts.len(),
            max_entities = entities.max_entities,
            "{} entities in the training window; the {} with the most alerts are modelled, these {} are not (raise training.max_entities to model them): {}",
            census.counts.len(),
            entities.max_entities,
            not_modelled.len(),
            name_some(&not_modelled)
        );
    }
    if census.without_entity > 0 {
        tracing::warn!(
            alerts = census.without_entity,
            "{} of {} training alerts have no single non-empty `{fields}` and belong to no entity",
            census.without_entity,
            census.alerts
        );
    }
    let dir = &set_dir(settings);
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let generation = new_generation(dir, clock.now())?;
    let mut members = Vec::with_capacity(ranked.len());
    let mut outcomes = Vec::with_capacity(ranked.len());
    let mut summary = RunSummary::default();
    let mut source = open_source(settings, Phase::Training)?;
    // A shared model: the fleet's vocabularies, and one network trained on the busiest
    // entities' series, whose features are kept for their members.
    let (schema, shared, mut kept) = match entities.model {
        EntityModel::PerEntity => {
            tracing::info!(entities = ranked.len(), fields = %fields, "training one model per entity");
            (None, None, BTreeMap::new())
        }
        EntityModel::Shared => {
            let (schema, shared, kept) = train_shared(
                settings,
                entities,
                &all_modelled,
                range,
                source.as_mut(),
                (clock, progress, stop),
            )?;
            (Some(schema), Some(shared), kept)
        }
    };
    // A shared network is stored once.
    let network = match &shared {
        Some(shared) => {
            let rel = format!("{generation}/{NETWORK_DIR}/{}", sonar_mvad::WEIGHTS_FILE);
            let path = dir.join(&rel);
            let parent = path.parent().expect("a file in a directory");
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
            let bytes = shared.weights().to_safetensors()?;
            std::fs::write(&path, bytes).map_err(io("writing", &path))?;
            Some(NetworkFile {
                file: rel,
                sha256: sha256_file(&path)?,
            })
        }
        None => None,
    };
    let mut prefetched = EntityMatrices::new();
    for (n, (entity, alerts)) in ranked.iter().enumerate() {
        if n % ENTITY_BATCH == 0 && prefetches(settings) {
            let keys: Vec<Vec<String>> = ranked[n..(n + ENTITY_BATCH).min(ranked.len())]
                .iter()
                .map(|(e, _)| e.values())
                .filter(|key| !kept.contains_key(key))
                .collect();
            prefetched = if keys.is_empty() {
                EntityMatrices::new()
            } else {
                progress.phase("computing the entities' features");
                let schemas = schema.as_ref().map(|s| keyed(&keys, s)).unwrap_or_default();
                let features = match &schema {
                    Some(_) => EntityFeatures::Detection { schemas: &schemas },
                    None => EntityFeatures::Training {
                        plan: &plan,
                        entities: &keys,
                    },
                };
                batch_features(source.as_mut(), settings, entities, range, features)?
                    .unwrap_or_default()
            };
        }
        let rel = format!("{generation}/{}", entity.slug());
        let run = entity_settings(settings, entity, dir.join(&rel));
        progress.phase(&format!("training entity {}", entity.label()));
        let own = Prefetched::new(&run, Phase::Training, prefetched.remove(&entity.values()));
        let outcome = match &shared {
            None => train_from(
                Some(Box::new(own)),
                &run,
                clock,
                progress,
                stop,
                payload_dir_given,
            ),
            Some(shared) => {
                let started = std::time::Instant::now();
                let data = match kept.remove(&entity.values()) {
                    Some(data) => data,
                    None => training_data(
                        Some(Box::new(own)),
                        &run,
                        schema.as_ref(),
                        clock,
                        progress,
                        stop,
                    )
                    .map_err(|e| training_failed(settings, entity, e))?,
                };
                let model = data
                    .matrix
                    .to_frame()
                    .and_then(|frame| Ok(shared.model_for(&frame)?));
                model.and_then(|model| {
                    save_trained(model, data, &run, (payload_dir_given, true), started)
                })
            }
        }
        .map_err(|e| training_failed(settings, entity, e))?;
        let mut files = BTreeMap::new();
        let stored = if shared.is_some() {
            &MEMBER_FILES[1..]
        } else {
            &MEMBER_FILES[..]
        };
        for file in stored {
            files.insert(
                (*file).to_owned(),
                sha256_file(&outcome.model_path.join(file))?,
            );
        }
        summary.absorb(&outcome.summary);
        members.push(Member {
            entity: entity.clone(),
            dir: rel,
            training_alerts: *alerts,
            files,
        });
        outcomes.push(outcome);
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        entity_fields: entities.fields.clone(),
        model: entities.model,
        network,
        training_start: range.start,
        training_end: range.end,
        members,
        not_modelled,
        without_entity: census.without_entity,
    };
    write_manifest(dir, &manifest)?;
    remove_other_generations(dir, &generation);
    summary.destination = Some(dir.display().to_string());
    summary.elapsed = started.elapsed();
    Ok(EntityTrainOutcome {
        dir: dir.clone(),
        manifest,
        members: outcomes,
        summary,
    })
}

/// A shared model's network is trained on this many of the busiest entities' series at
/// most; every member is then calibrated on its own series.
pub const SHARED_TRAINING_ENTITIES: usize = 100;
/// Training windows a shared model's epoch draws at most (SMD machine-1-6's single series
/// has about 1,400 at the default stride).
const SHARED_EPOCH_WINDOWS: usize = 4096;

/// Trains a shared model's network: the fleet's vocabularies (the scenario's own training
/// features over the window), then one network on the series of the first
/// [`SHARED_TRAINING_ENTITIES`] of `ranked` (all shards' entities: training is deterministic,
/// so every `--shard` process trains the same network). Returns the schema, the network, and
/// the training data of those entities, to make their members without fetching again.
#[allow(clippy::type_complexity)]
fn train_shared(
    settings: &Settings,
    entities: &EntitySettings,
    ranked: &[(Entity, u64)],
    range: TimeRange,
    source: &mut dyn crate::source::AlertSource,
    (clock, progress, stop): (&dyn Clock, &mut dyn Progress, &StopFlag),
) -> Result<
    (
        FeatureSchema,
        sonar_mvad::SharedFit,
        BTreeMap<Vec<String>, TrainingData>,
    ),
    Error,
> {
    progress.phase("choosing the fleet's vocabularies");
    let schema = training_data(None, settings, None, clock, progress, stop)?
        .matrix
        .schema;
    let training = &ranked[..SHARED_TRAINING_ENTITIES.min(ranked.len())];
    tracing::info!(
        entities = ranked.len(),
        training = training.len(),
        "training one network shared by every entity"
    );
    let keys: Vec<Vec<String>> = training.iter().map(|(e, _)| e.values()).collect();
    let mut prefetched = if prefetches(settings) {
        progress.phase("computing the entities' features");
        let schemas = keyed(&keys, &schema);
        let features = EntityFeatures::Detection { schemas: &schemas };
        batch_features(source, settings, entities, range, features)?.unwrap_or_default()
    } else {
        EntityMatrices::new()
    };
    let mut kept = BTreeMap::new();
    let mut frames = Vec::with_capacity(training.len());
    let mut params = None;
    for (entity, _) in training {
        let run = entity_settings(settings, entity, PathBuf::new());
        let own = Prefetched::new(&run, Phase::Training, prefetched.remove(&entity.values()));
        let data = training_data(
            Some(Box::new(own)),
            &run,
            Some(&schema),
            clock,
            progress,
            stop,
        )
        .map_err(|e| training_failed(settings, entity, e))?;
        frames.push(data.matrix.to_frame()?);
        params.get_or_insert_with(|| data.params.clone());
        kept.insert(entity.values(), data);
    }
    let params = params.expect("at least one entity is modelled");
    progress.phase("training the shared network");
    let mut observer = super::train::Observer { progress, stop };
    let shared =
        match sonar_mvad::fit_shared(&frames, &params, Some(SHARED_EPOCH_WINDOWS), &mut observer) {
            Ok(shared) => shared,
            Err(sonar_mvad::MvadError::Cancelled) => {
                return Err(Error::Stopped { during: "training" })
            }
            Err(e) => return Err(e.into()),
        };
    observer.progress.done();
    Ok((schema, shared, kept))
}

/// A fresh generation directory name under `dir`: `g<UTC stamp>`, suffixed when taken.
fn new_generation(dir: &Path, now: DateTime<Utc>) -> Result<String, Error> {
    let stamp = format!("g{}", now.format("%Y%m%dT%H%M%SZ"));
    for n in 0..1000 {
        let name = if n == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let path = dir.join(&name);
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io("creating", &path)(e)),
        }
    }
    Err(Error::ModelSet {
        path: dir.to_path_buf(),
        problem: format!(
            "1000 generation directories named {stamp}* already exist; remove old ones"
        ),
    })
}

/// Writes the manifest atomically: a temporary file, synced, renamed over the old one.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), Error> {
    let path = manifest_path(dir);
    let tmp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
    let text = serde_json::to_string_pretty(manifest).map_err(|e| Error::ModelSet {
        path: path.clone(),
        problem: format!("cannot serialise the manifest: {e}"),
    })?;
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        file.write_all(text.as_bytes())
            .map_err(io("writing", &tmp))?;
        file.sync_all().map_err(io("syncing", &tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(io("renaming into place", &path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Best effort: makes the rename itself durable on filesystems that need it.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Whether `name` is a generation directory's name as [`new_generation`] makes them
/// (`g20240508T100500Z`, maybe `-N`): nothing else in the set's directory is ever removed.
fn is_generation(name: &str) -> bool {
    let Some(stamp) = name.strip_prefix('g') else {
        return false;
    };
    let stamp = stamp.split_once('-').map_or(stamp, |(s, _)| s);
    stamp.len() == 16
        && stamp.is_char_boundary(8)
        && stamp[..8].bytes().all(|b| b.is_ascii_digit())
        && stamp[8..].starts_with('T')
        && stamp.ends_with('Z')
}

/// Removes generation directories other than `keep` (best effort: a leftover costs disk,
/// not correctness, and the next training removes it).
fn remove_other_generations(dir: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != keep && is_generation(&name) && entry.path().is_dir() {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove an old model generation");
            }
        }
    }
}

/// A loaded model set: the manifest and each member's model.
#[derive(Debug)]
pub struct ModelSet {
    /// The set's directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The members' models, in manifest order.
    pub models: Vec<LoadedModel>,
}

impl ModelSet {
    /// Loads the set at `dir`, checking that it was split by `entities.fields` and that every
    /// member file has its recorded SHA-256.
    pub fn load(dir: &Path, entities: &EntitySettings) -> Result<Self, Error> {
        let path = manifest_path(dir);
        if !path.is_file() {
            return Err(Error::ModelMissing { path });
        }
        let text = std::fs::read_to_string(&path).map_err(io("reading", &path))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::ModelSet {
            path: path.clone(),
            problem: format!("not a model set manifest: {e}; retrain the scenario"),
        })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(Error::ModelSet {
                path,
                problem: format!(
                    "manifest format {} (this SONAR reads {MANIFEST_FORMAT}); retrain the scenario",
                    manifest.format
                ),
            });
        }
        if manifest.entity_fields != entities.fields {
            return Err(Error::ModelSet {
                path,
                problem: format!(
                    "trained split by {:?}, but the scenario now says training.entity_field {:?}; retrain the scenario",
                    manifest.entity_fields, entities.fields
                ),
            });
        }
        // A shared network: checked and loaded once, with the first member's metadata.
        let network = match &manifest.network {
            None => None,
            Some(network) => {
                let file = dir.join(&network.file);
                check_sha256(&file, &network.sha256, "the shared network")?;
                let first = manifest.members.first().ok_or_else(|| Error::ModelSet {
                    path: path.clone(),
                    problem: "a shared network with no members; retrain the scenario".into(),
                })?;
                let meta = dir.join(&first.dir).join(sonar_mvad::META_FILE);
                Some(sonar_mvad::MvadModel::load_files(&file, &meta)?)
            }
        };
        let mut models = Vec::with_capacity(manifest.members.len());
        for member in &manifest.members {
            let member_dir = dir.join(&member.dir);
            let whose = format!("the member of entity {}", member.entity.label());
            for (file, expected) in &member.files {
                check_sha256(&member_dir.join(file), expected, &whose)?;
            }
            models.push(match &network {
                None => LoadedModel::load(&member_dir)?,
                Some(network) => LoadedModel::from_model(
                    network.with_meta_file(&member_dir.join(sonar_mvad::META_FILE))?,
                    &member_dir,
                )?,
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            models,
        })
    }
}

/// Refuses `path` unless its SHA-256 is `expected` (recorded in the manifest); `whose` names
/// it in the message.
fn check_sha256(path: &Path, expected: &str, whose: &str) -> Result<(), Error> {
    let actual = sha256_file(path).map_err(|e| Error::ModelSet {
        path: path.to_path_buf(),
        problem: format!("{whose} unreadable: {e}"),
    })?;
    if actual != expected {
        return Err(Error::ModelSet {
            path: path.to_path_buf(),
            problem: format!(
                "SHA-256 {actual} differs from {expected} in {MANIFEST_FILE}: {whose} was damaged or replaced after training; retrain the scenario"
            ),
        });
    }
    Ok(())
}

/// What one detection over a model set did.
#[derive(Debug, Clone)]
pub struct EntityDetectOutcome {
    /// Each member's run with its entity, in manifest order.
    pub members: Vec<(Entity, DetectOutcome)>,
    /// Entities with alerts in the detection window that the set does not model (first seen,
    /// or past `max_entities` at training), with their alerts, most first.
    pub unmodelled: Vec<(Entity, u64)>,
    /// Detection alerts that named no entity.
    pub without_entity: u64,
    /// The counts of all members together.
    pub summary: RunSummary,
}

/// Scores every member of `set` over its historical range (`--start`/`--end`, the debug
/// file, or the lookback) into `sink`, then counts the detection window's alerts of entities
/// the set does not model and reports them.
pub fn detect_entities(
    settings: &Settings,
    entities: &EntitySettings,
    set: &ModelSet,
    sink: &mut dyn AnomalySink,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
) -> Result<EntityDetectOutcome, Error> {
    let started = std::time::Instant::now();
    let mut members = Vec::with_capacity(set.models.len());
    let mut summary = RunSummary::default();
    let mut scored_range: Option<TimeRange> = None;
    let mut source = open_source(settings, Phase::Detection)?;
    let mut prefetched = EntityMatrices::new();
    // Each member's run and the buckets it judges, worked out once.
    let mut runs = Vec::with_capacity(set.models.len());
    for (member, model) in set.manifest.members.iter().zip(&set.models) {
        let run = entity_settings(settings, &member.entity, model.path.clone());
        let range = historical_range(&run, model, clock.now())?;
        runs.push((member, model, run, range));
    }
    for (n, (member, model, run, range)) in runs.iter().enumerate() {
        if n % ENTITY_BATCH == 0 && prefetches(settings) {
            let batch = &runs[n..(n + ENTITY_BATCH).min(runs.len())];
            let mut span: Option<TimeRange> = None;
            let mut schemas = Vec::with_capacity(batch.len());
            for (member, model, _, range) in batch {
                // The model's context before the first judged bucket is read too.
                let context = model.bucket()?.step() * model.context_buckets() as i32;
                let fetch = TimeRange {
                    start: range.start - context,
                    end: range.end,
                };
                span = Some(widen(span, fetch));
                schemas.push((member.entity.values(), &model.schema));
            }
            if let Some(span) = span {
                progress.phase("computing the entities' features");
                let features = EntityFeatures::Detection { schemas: &schemas };
                prefetched = batch_features(source.as_mut(), settings, entities, span, features)?
                    .unwrap_or_default();
            }
        }
        let range = *range;
        scored_range = Some(widen(scored_range, range));
        let request = DetectRequest {
            range: Some(range),
            ..DetectRequest::default()
        };
        progress.phase(&format!("detecting entity {}", member.entity.label()));
        let own = Prefetched::new(
            run,
            Phase::Detection,
            prefetched.remove(&member.entity.values()),
        );
        let outcome = detect_from(
            Some(Box::new(own)),
            run,
            model,
            &request,
            sink,
            clock,
            progress,
            stop,
        )
        .map_err(|e| Error::Entities {
            scenario: scenario_name(settings),
            problem: format!("detecting entity {}: {e}", member.entity.label()),
        })?;
        summary.absorb(&outcome.summary);
        members.push((member.entity.clone(), outcome));
    }
    let (unmodelled, without_entity) = match scored_range {
        Some(range) => {
            let census = census(settings, entities, Phase::Detection, range, stop)?;
            let modelled: std::collections::BTreeSet<&Entity> =
                set.manifest.members.iter().map(|m| &m.entity).collect();
            let unmodelled: Vec<(Entity, u64)> = census
                .ranked()
                .into_iter()
                .filter(|(e, _)| !modelled.contains(e))
                .filter(|(e, _)| settings.shard.is_none_or(|s| s.owns(e)))
                .collect();
            (unmodelled, census.without_entity)
        }
        None => (Vec::new(), 0),
    };
    if !unmodelled.is_empty() {
        tracing::warn!(
            entities = unmodelled.len(),
            alerts = unmodelled.iter().map(|(_, n)| n).sum::<u64>(),
            "{} entities with alerts in the detection window have no model (new since training, or past training.max_entities): {}; retrain the scenario to model them",
            unmodelled.len(),
            name_some(&unmodelled)
        );
    }
    if without_entity > 0 {
        tracing::warn!(
            alerts = without_entity,
            "{without_entity} detection alerts have no single non-empty `{}` and belong to no entity",
            entities.fields.join(", ")
        );
    }
    summary.elapsed = started.elapsed();
    Ok(EntityDetectOutcome {
        members,
        unmodelled,
        without_entity,
        summary,
    })
}

/// Realtime detection of a per-entity scenario until `stop` is raised or `limit` is reached.
/// Each member has its own [`Poller`] and state file (`<set dir>/realtime/<slug>.json`), so a
/// restart resumes every entity after its own last scored bucket, and a crash mid-poll
/// re-scores at most that poll's buckets (same document ids: the index refuses them twice).
/// One poll scores every entity's complete new buckets; their features come from one pass
/// over up to 50 entities at a time ([`crate::source::AlertSource::entity_features`]).
/// Entities with alerts in a poll but no model are named once per process. `on_poll` sees each
/// entity's outcome.
#[allow(clippy::too_many_arguments)]
pub fn run_realtime_entities(
    settings: &Settings,
    entities: &EntitySettings,
    set: &ModelSet,
    sink: &mut dyn AnomalySink,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
    stop: &StopFlag,
    limit: LoopLimit,
    on_poll: &mut dyn FnMut(&Entity, &DetectOutcome),
) -> Result<RunSummary, Error> {
    check_supported(settings, false)?;
    let state_dir = set_dir(settings).join("realtime");
    let mut members = Vec::with_capacity(set.models.len());
    for (member, model) in set.manifest.members.iter().zip(&set.models) {
        let run = entity_settings(settings, &member.entity, model.path.clone());
        let state = state_dir.join(format!("{}.json", member.entity.slug()));
        let poller = Poller::at(state, &run)?;
        members.push((member, model, run, poller));
    }
    tracing::info!(
        entities = members.len(),
        state = %state_dir.display(),
        "realtime detection of every entity started; Ctrl+C stops it"
    );
    let modelled: std::collections::BTreeSet<&Entity> =
        set.manifest.members.iter().map(|m| &m.entity).collect();
    let mut named: std::collections::BTreeSet<Entity> = std::collections::BTreeSet::new();
    let mut source = open_source(settings, Phase::Detection)?;
    let mut total = RunSummary::default();
    let mut polls: u64 = 0;
    'polls: while !stop.is_raised() {
        let mut span: Option<TimeRange> = None;
        for chunk in members.chunks_mut(ENTITY_BATCH) {
            let mut prefetched = EntityMatrices::new();
            if prefetches(settings) {
                let mut schemas = Vec::with_capacity(chunk.len());
                let mut chunk_span: Option<TimeRange> = None;
                for (member, model, run, poller) in chunk.iter() {
                    let Some(range) = poller.next_range(run, model, clock)? else {
                        continue;
                    };
                    let context = if poller.resumes() {
                        0
                    } else {
                        model.context_buckets()
                    };
                    let fetch = TimeRange {
                        start: range.start - model.bucket()?.step() * context as i32,
                        end: range.end,
                    };
                    chunk_span = Some(widen(chunk_span, fetch));
                    span = Some(widen(span, range));
                    schemas.push((member.entity.values(), &model.schema));
                }
                if let Some(chunk_span) = chunk_span {
                    let features = EntityFeatures::Detection { schemas: &schemas };
                    match batch_features(source.as_mut(), settings, entities, chunk_span, features)
                    {
                        Ok(matrices) => prefetched = matrices.unwrap_or_default(),
                        // Each entity's poll meets the same trouble and backs off.
                        Err(e) if super::is_transient(&e) => {
                            tracing::warn!(error = %e, "computing the entities' features failed; each entity retries on its own");
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            for (member, model, run, poller) in chunk.iter_mut() {
                let own = Prefetched::new(
                    run,
                    Phase::Detection,
                    prefetched.remove(&member.entity.values()),
                );
                match poller
                    .poll_from(Some(Box::new(own)), run, model, sink, clock, progress, stop)
                    .map_err(|e| Error::Entities {
                        scenario: scenario_name(settings),
                        problem: format!(
                            "realtime detection of entity {}: {e}",
                            member.entity.label()
                        ),
                    })? {
                    PollResult::Scored(outcome) => {
                        total.absorb(&outcome.summary);
                        on_poll(&member.entity, &outcome);
                    }
                    PollResult::Stopped => break 'polls,
                    PollResult::NothingNew | PollResult::Retrying(_) => {}
                }
            }
        }
        if let Some(span) = span {
            match census(settings, entities, Phase::Detection, span, stop) {
                Ok(census) => {
                    let new: Vec<(Entity, u64)> = census
                        .ranked()
                        .into_iter()
                        .filter(|(e, _)| !modelled.contains(e) && !named.contains(e))
                        .filter(|(e, _)| settings.shard.is_none_or(|s| s.owns(e)))
                        .collect();
                    if !new.is_empty() {
                        tracing::warn!(
                            entities = new.len(),
                            "{} entities with alerts in this poll have no model (new since training, or past training.max_entities): {}; retrain the scenario to model them",
                            new.len(),
                            name_some(&new)
                        );
                        named.extend(new.into_iter().map(|(e, _)| e));
                    }
                }
                Err(Error::Stopped { .. }) => break,
                Err(e) if super::is_transient(&e) => {
                    tracing::warn!(error = %e, "counting this poll's entities failed");
                }
                Err(e) => return Err(e),
            }
        }
        polls += 1;
        if limit.max_polls.is_some_and(|m| polls >= m) {
            break;
        }
        let wait = members
            .iter()
            .map(|(_, _, _, p)| p.wait())
            .min()
            .unwrap_or(Duration::from_secs(60));
        clock.sleep(wait, stop);
    }
    Ok(total)
}

/// `range` grown to cover `more`.
fn widen(range: Option<TimeRange>, more: TimeRange) -> TimeRange {
    range.map_or(more, |r| TimeRange {
        start: r.start.min(more.start),
        end: r.end.max(more.end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> Entity {
        Entity::new(&["agent.name".to_owned()], vec![value.to_owned()])
    }

    #[test]
    fn shard_flags_read_i_of_n() {
        assert_eq!("1/2".parse::<Shard>(), Ok(Shard { index: 1, count: 2 }));
        assert_eq!(
            " 3 / 3 ".parse::<Shard>().map(|s| s.to_string()),
            Ok("3/3".into())
        );
        for bad in ["0/2", "3/2", "1", "a/b", "1/0", ""] {
            let err = bad.parse::<Shard>().expect_err(bad);
            assert!(err.contains("I/N"), "{err}");
        }
        let shards = [Shard { index: 1, count: 2 }, Shard { index: 2, count: 2 }];
        for name in ["web-01", "dc-01", "bastion-01", "app-01"] {
            let owners = shards.iter().filter(|s| s.owns(&host(name))).count();
            assert_eq!(owners, 1, "{name} belongs to exactly one shard");
        }
    }

    #[test]
    fn only_generation_directories_are_ever_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "g20240508T100500Z",
            "g20240508T100500Z-1",
            "g20240509T000000Z",
            "graphs",
            "shard-1-of-2",
        ] {
            std::fs::create_dir(dir.path().join(name)).expect("dir");
        }
        remove_other_generations(dir.path(), "g20240509T000000Z");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["g20240509T000000Z", "graphs", "shard-1-of-2"]);
        assert!(is_generation(
            &new_generation(dir.path(), Utc::now()).expect("new")
        ));
    }

    #[test]
    fn the_census_ranks_by_alerts_then_by_entity() {
        let mut census = Census::default();
        for (name, n) in [("b", 5), ("a", 5), ("c", 9)] {
            census.counts.insert(host(name), n);
        }
        let ranked: Vec<String> = census.ranked().iter().map(|(e, _)| e.label()).collect();
        assert_eq!(ranked, ["c", "a", "b"]);
    }

    /// A manifest over member files written by hand (the checks run before any model is
    /// read), for the load-time refusals.
    fn set_with_member(dir: &Path, fields: &[&str]) -> PathBuf {
        let member = dir.join("g1/web-01");
        std::fs::create_dir_all(&member).expect("member dir");
        let mut files = BTreeMap::new();
        for file in MEMBER_FILES {
            std::fs::write(member.join(file), file.as_bytes()).expect("member file");
            files.insert(
                file.to_owned(),
                sha256_file(&member.join(file)).expect("hash"),
            );
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            entity_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            model: EntityModel::PerEntity,
            network: None,
            training_start: DateTime::<Utc>::UNIX_EPOCH,
            training_end: DateTime::<Utc>::UNIX_EPOCH,
            members: vec![Member {
                entity: host("web-01"),
                dir: "g1/web-01".into(),
                training_alerts: 3,
                files,
            }],
            not_modelled: Vec::new(),
            without_entity: 0,
        };
        write_manifest(dir, &manifest).expect("manifest");
        member
    }

    #[test]
    fn a_model_set_from_another_split_or_with_a_changed_member_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let member = set_with_member(dir.path(), &["agent.name"]);
        let other = EntitySettings {
            fields: vec!["data.srcip".into()],
            max_entities: 10,
            model: EntityModel::PerEntity,
        };
        let err = ModelSet::load(dir.path(), &other).expect_err("other split");
        assert!(err.to_string().contains("retrain"), "{err}");
        let entities = EntitySettings {
            fields: vec!["agent.name".into()],
            max_entities: 10,
            model: EntityModel::PerEntity,
        };
        std::fs::write(member.join(sonar_mvad::META_FILE), b"replaced").expect("tamper");
        match ModelSet::load(dir.path(), &entities) {
            Err(Error::ModelSet { path, problem }) => {
                assert_eq!(path, member.join(sonar_mvad::META_FILE));
                assert!(
                    problem.contains("SHA-256") && problem.contains("web-01"),
                    "{problem}"
                );
            }
            other => panic!("expected a model set error, got {other:?}"),
        }
        std::fs::remove_file(member.join(sonar_mvad::WEIGHTS_FILE)).expect("remove");
        let err = ModelSet::load(dir.path(), &entities).expect_err("missing member");
        assert!(err.to_string().contains(sonar_mvad::WEIGHTS_FILE), "{err}");
        std::fs::write(manifest_path(dir.path()), b"{ not json").expect("garble");
        let err = ModelSet::load(dir.path(), &entities).expect_err("garbled manifest");
        assert!(err.to_string().contains("entities.json"), "{err}");
    }
}
