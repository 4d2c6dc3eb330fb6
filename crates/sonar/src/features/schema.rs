//! The frozen description of a model's columns: which fields, which categorical values, in
//! which order. Built at training, stored with the model (serde JSON), reused at detection so
//! detection produces exactly the training columns.

use serde::{Deserialize, Serialize};

use super::derived::DERIVED_NAMES;
use super::spec::{BucketWidth, FeaturePlan};
use super::ALERT_COUNT_COLUMN;
use crate::field::FieldPath;
use crate::Error;

/// Version of the schema format; a model file with another version is refused.
pub const SCHEMA_VERSION: u32 = 1;

/// The columns a model was trained on and how to compute them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSchema {
    /// Format version ([`SCHEMA_VERSION`]).
    pub version: u32,
    /// Bucket width in minutes.
    pub bucket_minutes: u32,
    /// The event-time field.
    pub timestamp_field: String,
    /// Averaged fields.
    pub numeric_fields: Vec<String>,
    /// Fields with a `<field>__max` column.
    pub max_numeric_fields: Vec<String>,
    /// Whether the 13 derived flags are columns.
    pub derived_features: bool,
    /// Per categorical field, the values that have their own column.
    pub categorical: Vec<CategoricalVocabulary>,
    /// Every column name, in column order.
    pub columns: Vec<String>,
}

/// The values of one categorical field that got their own column at training, in column order.
/// Every other value goes to `<field>__other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoricalVocabulary {
    /// The field's dotted path.
    pub field: String,
    /// Raw values (not sanitised), in column order.
    pub values: Vec<String>,
}

impl FeatureSchema {
    /// Builds the schema of `plan` with the chosen categorical values, one list per
    /// categorical field in the plan's order.
    pub fn new(plan: &FeaturePlan, vocabularies: Vec<Vec<String>>) -> Self {
        let categorical: Vec<CategoricalVocabulary> = plan
            .categorical
            .iter()
            .zip(vocabularies)
            .map(|(field, values)| CategoricalVocabulary {
                field: field.as_str().to_owned(),
                values,
            })
            .collect();
        let mut schema = Self {
            version: SCHEMA_VERSION,
            bucket_minutes: plan.bucket.minutes(),
            timestamp_field: plan.timestamp.as_str().to_owned(),
            numeric_fields: plan.numeric.iter().map(|p| p.as_str().to_owned()).collect(),
            max_numeric_fields: plan.max.iter().map(|p| p.as_str().to_owned()).collect(),
            derived_features: plan.derived,
            categorical,
            columns: Vec::new(),
        };
        schema.columns = schema.column_names();
        schema
    }

    /// Checks a stored schema (version, fields, column names) and returns the plan to compute
    /// it. `top_k` in the plan is irrelevant at detection and set to `None`.
    pub fn plan(&self) -> Result<FeaturePlan, Error> {
        let bad = |key: &str, problem: String| Error::FeatureSetting {
            key: format!("schema.{key}"),
            problem,
        };
        if self.version != SCHEMA_VERSION {
            return Err(bad(
                "version",
                format!("feature schema version {} is not supported (this SONAR reads {SCHEMA_VERSION}): retrain the model", self.version),
            ));
        }
        let spec = super::FeatureSpec {
            bucket_minutes: self.bucket_minutes,
            numeric_fields: self.numeric_fields.clone(),
            max_numeric_fields: self.max_numeric_fields.clone(),
            categorical_fields: self.categorical.iter().map(|c| c.field.clone()).collect(),
            categorical_top_k: 0,
            derived_features: self.derived_features,
            timestamp_field: self.timestamp_field.clone(),
        };
        let plan = spec.validate()?;
        if self.column_names() != self.columns {
            return Err(bad("columns", "the column list does not match the fields and vocabularies: the model file is corrupt".to_owned()));
        }
        Ok(plan)
    }

    /// The bucket width, if valid.
    pub fn bucket(&self) -> Option<BucketWidth> {
        BucketWidth::new(self.bucket_minutes)
    }

    /// Column names computed from the fields and vocabularies: numeric fields, `__max`
    /// columns, derived flags, per categorical field its values then `__other`, `alert_count`.
    fn column_names(&self) -> Vec<String> {
        let mut fixed: Vec<String> = self.numeric_fields.clone();
        fixed.extend(self.max_numeric_fields.iter().map(|f| format!("{f}__max")));
        if self.derived_features {
            fixed.extend(DERIVED_NAMES.iter().map(|n| (*n).to_owned()));
        }
        let mut taken: std::collections::HashSet<String> = fixed.iter().cloned().collect();
        taken.insert(ALERT_COUNT_COLUMN.to_owned());
        let mut columns = fixed;
        for vocabulary in &self.categorical {
            let other = unique(&mut taken, format!("{}__other", vocabulary.field));
            for value in &vocabulary.values {
                columns.push(unique(
                    &mut taken,
                    format!("{}__{}", vocabulary.field, sanitize(value)),
                ));
            }
            columns.push(other);
        }
        columns.push(ALERT_COUNT_COLUMN.to_owned());
        columns
    }

    /// The number of columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The categorical fields as paths (valid once [`FeatureSchema::plan`] succeeded).
    pub fn categorical_paths(&self) -> Vec<Option<FieldPath>> {
        self.categorical
            .iter()
            .map(|c| FieldPath::parse(&c.field))
            .collect()
    }
}

/// The original's column-name rule: every character that is not alphanumeric (Unicode-aware)
/// becomes `_` (reference/sonar_original.md §5.3).
pub fn sanitize(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect()
}

/// `name`, or `name_2`, `name_3`... when taken: values that sanitise alike (`a-b`, `a_b`) or
/// clash with `__other` keep separate columns instead of silently merging as in the original.
fn unique(taken: &mut std::collections::HashSet<String>, name: String) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{name}_{n}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureSpec;

    fn check(spec: FeatureSpec, vocabularies: Vec<Vec<&str>>, expected: &[&str]) {
        let plan = spec.validate().expect("valid spec");
        let vocabularies = vocabularies
            .into_iter()
            .map(|v| v.into_iter().map(str::to_owned).collect())
            .collect();
        let schema = FeatureSchema::new(&plan, vocabularies);
        assert_eq!(schema.columns, expected);
        // Round trip through JSON, then back to a plan.
        let text = serde_json::to_string(&schema).expect("serialises");
        let back: FeatureSchema = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, schema);
        assert_eq!(
            back.plan().expect("valid schema").categorical,
            plan.categorical
        );
    }

    #[test]
    fn column_order_and_names() {
        check(
            FeatureSpec {
                numeric_fields: vec!["rule.level".into(), "data.cpu_usage_%".into()],
                max_numeric_fields: vec!["data.cpu_usage_%".into()],
                categorical_fields: vec!["rule.id".into(), "agent.name".into()],
                derived_features: false,
                ..FeatureSpec::default()
            },
            vec![
                vec!["5710", "5715"],
                vec!["web-01", "web_01", "other", "Zürich db"],
            ],
            &[
                "rule.level",
                "data.cpu_usage_%",
                "data.cpu_usage_%__max",
                "rule.id__5710",
                "rule.id__5715",
                "rule.id__other",
                "agent.name__web_01",
                "agent.name__web_01_2",
                "agent.name__other_2",
                "agent.name__Zürich_db",
                "agent.name__other",
                "alert_count",
            ],
        );
        let mut expected = vec!["rule.level"];
        expected.extend(DERIVED_NAMES);
        expected.push("alert_count");
        check(FeatureSpec::default(), vec![], &expected);
    }

    #[test]
    fn stored_schema_is_checked() {
        let plan = FeatureSpec::default().validate().expect("valid");
        let schema = FeatureSchema::new(&plan, vec![]);
        let mut tampered = schema.clone();
        tampered.columns.swap(0, 1);
        assert!(
            matches!(tampered.plan(), Err(Error::FeatureSetting { key, .. }) if key == "schema.columns")
        );
        let mut newer = schema.clone();
        newer.version = SCHEMA_VERSION + 1;
        assert!(
            matches!(newer.plan(), Err(Error::FeatureSetting { key, .. }) if key == "schema.version")
        );
        let mut bad_bucket = schema;
        bad_bucket.bucket_minutes = 0;
        assert!(bad_bucket.plan().is_err());
    }
}
