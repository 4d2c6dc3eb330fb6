//! Dotted field paths (`rule.level`, `data.cpu_usage_%`), split once when settings are
//! validated so the per-alert lookup allocates nothing.
//!
//! Shared by the sources (filters, local files: which field holds the time) and the features
//! (which fields become columns), so it belongs to neither: it knows JSON objects, not alerts'
//! origins or columns.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A dotted path into an alert: each segment is one level of nested JSON objects.
///
/// Lookup follows nested objects first (Wazuh's shape). When that finds nothing and the path
/// has several segments, the whole text is tried as one literal top-level key, so flattened
/// documents (`{"rule.level": 5}`) work too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldPath {
    text: String,
    segments: Vec<String>,
}

impl FieldPath {
    /// Splits `text` on dots; `None` when it is empty or has an empty segment (`a..b`, `.a`).
    pub fn parse(text: &str) -> Option<Self> {
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return None;
        }
        Some(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as written (`rule.level`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path split on dots (`["rule", "level"]`).
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The value at this path in `alert` (an alert's JSON object), if any.
    pub fn lookup<'a>(&self, alert: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut value = alert.get(first.as_str());
        for segment in rest {
            value = value
                .and_then(|v| v.as_object())
                .and_then(|o| o.get(segment.as_str()));
        }
        if value.is_none() && !rest.is_empty() {
            return alert.get(self.text.as_str());
        }
        value
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for FieldPath {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
            .ok_or_else(|| format!("`{text}` is not a dotted field path (empty segment)"))
    }
}

impl From<FieldPath> for String {
    fn from(path: FieldPath) -> Self {
        path.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(path: &str, alert: serde_json::Value, expected: Option<serde_json::Value>) {
        let alert = alert.as_object().cloned().expect("test alerts are objects");
        let path = FieldPath::parse(path).expect("valid path");
        assert_eq!(path.lookup(&alert).cloned(), expected, "path {path}");
    }

    #[test]
    fn lookups() {
        check("rule.level", json!({"rule": {"level": 5}}), Some(json!(5)));
        check("timestamp", json!({"timestamp": "x"}), Some(json!("x")));
        check(
            "data.cpu_usage_%",
            json!({"data": {"cpu_usage_%": "6.2"}}),
            Some(json!("6.2")),
        );
        check("rule.level", json!({"rule": 5}), None);
        check("rule.level", json!({"rule": [{"level": 5}]}), None);
        check("rule.level", json!({}), None);
        check("rule.level", json!({"rule.level": 7}), Some(json!(7)));
        check("a.b.c", json!({"a": {"b": {"c": null}}}), Some(json!(null)));
    }

    #[test]
    fn refuses_empty_segments() {
        for bad in ["", ".", "a.", ".a", "a..b"] {
            assert!(FieldPath::parse(bad).is_none(), "{bad:?}");
        }
        let parsed: Result<FieldPath, _> = serde_json::from_str("\"a..b\"");
        assert!(parsed.is_err());
    }
}
