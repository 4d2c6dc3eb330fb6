//! Entities (docs/configuration.md `training.entity_field`): the host, account or address a
//! per-entity scenario scores one series for. An [`Entity`] is the value of each entity field
//! of one alert; documents carry it as OpenSearch Anomaly Detection's result index does
//! (`entity: [{"name": "agent.name", "value": "web-01"}]`), and document and event ids
//! include its [`Entity::slug`], so two entities' anomalies in the same bucket are two
//! documents.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Longest entity value kept readable in a slug; longer ones are cut and hashed.
const SLUG_VALUE_CHARS: usize = 48;

/// One entity field's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityValue {
    /// The field path (`agent.name`).
    pub name: String,
    /// Its value, as text (a JSON number or boolean is written as JSON writes it).
    pub value: String,
}

/// The values of a scenario's entity fields (one or two) for one entity, in field order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entity(pub Vec<EntityValue>);

impl Entity {
    /// The entity of `values` for `fields` (same order, same length).
    pub fn new(fields: &[String], values: Vec<String>) -> Self {
        Self(
            fields
                .iter()
                .zip(values)
                .map(|(name, value)| EntityValue {
                    name: name.clone(),
                    value,
                })
                .collect(),
        )
    }

    /// The values alone, in field order.
    pub fn values(&self) -> Vec<String> {
        self.0.iter().map(|v| v.value.clone()).collect()
    }

    /// The document form: `[{"name": ..., "value": ...}, ...]`.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|v| json!({"name": v.name, "value": v.value}))
                .collect(),
        )
    }

    /// Reads [`Self::to_json`]'s form back (`None` for anything else).
    pub fn from_json(value: &Value) -> Option<Self> {
        let items = value.as_array()?;
        let values = items
            .iter()
            .map(|item| {
                Some(EntityValue {
                    name: item.get("name")?.as_str()?.to_owned(),
                    value: item.get("value")?.as_str()?.to_owned(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        (!values.is_empty()).then_some(Self(values))
    }

    /// The values joined for people: `web-01`, or `web-01 / alice` for two fields.
    pub fn label(&self) -> String {
        self.0
            .iter()
            .map(|v| v.value.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// The shard (1 ..= `count`) of a `--shard I/N` run that handles this entity: the first 8
    /// bytes of a SHA-256 of its values, modulo `count`. Stable across processes, machines
    /// and releases (never Rust's randomised hasher).
    pub fn shard(&self, count: u32) -> u32 {
        let digest = self.digest();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32 + 1
    }

    /// SHA-256 of the exact values (each followed by 0x1f).
    fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        for v in &self.0 {
            hash.update(v.value.as_bytes());
            hash.update([0x1f]);
        }
        hash.finalize().into()
    }

    /// A name safe as a directory name and inside an `_id`: the values joined by `+` when
    /// each is short and made of letters, digits, `.`, `_` and `-` (not leading `.`);
    /// otherwise each value's safe characters (others as `_`, at most 48) plus 8 hex digits
    /// of a SHA-256 of the exact values, so distinct entities never share a slug.
    pub fn slug(&self) -> String {
        let plain = |v: &str| {
            !v.is_empty()
                && v.len() <= SLUG_VALUE_CHARS
                && !v.starts_with('.')
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if self.0.iter().all(|v| plain(&v.value)) {
            return self
                .0
                .iter()
                .map(|v| v.value.as_str())
                .collect::<Vec<_>>()
                .join("+");
        }
        let digest = self.digest();
        let safe: Vec<String> = self
            .0
            .iter()
            .map(|v| {
                v.value
                    .chars()
                    .take(SLUG_VALUE_CHARS)
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            })
            .collect();
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}~{hex}", safe.join("+"))
    }
}

/// The scope of document and event ids: the scenario id, or `scenario_id@slug` for an
/// entity's run.
pub fn id_scope(scenario_id: &str, entity: Option<&Entity>) -> String {
    match entity {
        Some(entity) => format!("{scenario_id}@{}", entity.slug()),
        None => scenario_id.to_owned(),
    }
}

/// An entity field's value in an alert as entity text: a non-empty string as is, a number or
/// boolean as JSON writes it; `None` for a missing field, an empty string, null, a list or an
/// object (such alerts belong to no entity and are counted apart).
pub fn value_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> Entity {
        Entity::new(&["agent.name".to_owned()], vec![value.to_owned()])
    }

    #[test]
    fn plain_values_are_their_own_slug_and_others_are_hashed_apart() {
        assert_eq!(host("web-01").slug(), "web-01");
        let two = Entity::new(
            &["agent.name".to_owned(), "data.dstuser".to_owned()],
            vec!["dc-01".to_owned(), "alice".to_owned()],
        );
        assert_eq!(two.slug(), "dc-01+alice");
        let spaced = host("web 01").slug();
        assert!(spaced.starts_with("web_01~"), "{spaced}");
        assert_ne!(
            spaced,
            host("web/01").slug(),
            "same safe text, different values"
        );
        assert_ne!(host("..").slug(), "..");
        let huge = "x".repeat(10_000);
        let slug = host(&huge).slug();
        assert!(slug.len() < 64, "{}", slug.len());
        assert_ne!(slug, host(&"x".repeat(9_999)).slug());
        for slug in [spaced, slug, host("../etc").slug()] {
            assert!(!slug.contains('/') && !slug.starts_with('.'), "{slug}");
        }
    }

    #[test]
    fn the_document_form_reads_back_and_ids_are_scoped() {
        let e = host("dc-01");
        assert_eq!(
            e.to_json(),
            json!([{"name": "agent.name", "value": "dc-01"}])
        );
        assert_eq!(Entity::from_json(&e.to_json()), Some(e.clone()));
        assert_eq!(Entity::from_json(&json!([])), None);
        assert_eq!(id_scope("brute_force", Some(&e)), "brute_force@dc-01");
        assert_eq!(id_scope("brute_force", None), "brute_force");
    }

    #[test]
    fn shards_are_stable_and_spread_the_entities() {
        // Pinned values: a change of the hash would move entities between running processes.
        let pinned = [("web-01", 1, 3), ("dc-01", 1, 2), ("bastion-01", 2, 1)];
        for (name, of_two, of_three) in pinned {
            assert_eq!(host(name).shard(2), of_two, "{name}");
            assert_eq!(host(name).shard(3), of_three, "{name}");
        }
        let counts = (0..200).fold([0usize; 3], |mut c, i| {
            let s = host(&format!("host-{i}")).shard(3);
            assert!((1..=3).contains(&s));
            c[s as usize - 1] += 1;
            c
        });
        assert!(counts.iter().all(|&n| n > 40), "{counts:?}");
        assert_eq!(host("x").shard(1), 1);
    }

    #[test]
    fn only_scalar_non_empty_values_name_an_entity() {
        assert_eq!(value_text(Some(&json!("web-01"))), Some("web-01".into()));
        assert_eq!(value_text(Some(&json!(42))), Some("42".into()));
        assert_eq!(value_text(Some(&json!(true))), Some("true".into()));
        for v in [
            json!(""),
            json!("  "),
            json!(null),
            json!(["a"]),
            json!({"a": 1}),
        ] {
            assert_eq!(value_text(Some(&v)), None, "{v}");
        }
        assert_eq!(value_text(None), None);
    }
}
