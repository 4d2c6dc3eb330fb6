//! Dotted field paths (`rule.level`, `data.cpu_usage_%`), split once when settings are
//! validated so the per-alert lookup allocates nothing.

use serde::{Deserialize, Serialize};

use crate::source::Alert;

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

    /// The value at this path in `alert`, if any.
    pub fn lookup<'a>(&self, alert: &'a Alert) -> Option<&'a serde_json::Value> {
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

/// Every field the builder reads, compiled into a tree of keys so that one pass over an
/// alert resolves them all: each object is scanned once for the keys needed below it, instead of
/// one `BTreeMap` search (string comparisons) per field. This is the feature builder's hot path.
#[derive(Debug, Clone, Default)]
pub struct FieldResolver {
    /// Node 0 is the alert itself.
    nodes: Vec<ResolverNode>,
    slots: usize,
}

#[derive(Debug, Clone, Default)]
struct ResolverNode {
    /// `(key, node)` for each key needed in this object.
    children: Vec<(String, usize)>,
    /// The slot receiving the value found at this node, if a field ends here.
    slot: Option<usize>,
}

/// Where a field's value lands after [`FieldResolver::resolve`]: the nested lookup, then the
/// literal top-level key (see [`FieldPath::lookup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSlot {
    nested: usize,
    literal: Option<usize>,
}

impl FieldResolver {
    /// Registers a field (with the literal-key fallback for dotted paths) and returns its slot.
    pub fn add(&mut self, path: &FieldPath) -> FieldSlot {
        let nested = self.add_segments(&path.segments);
        let literal =
            (path.segments.len() > 1).then(|| self.add_segments(std::slice::from_ref(&path.text)));
        FieldSlot { nested, literal }
    }

    /// Registers a nested field without the literal fallback (the derived flags' fixed keys).
    pub fn add_nested(&mut self, segments: &[&str]) -> FieldSlot {
        let segments: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
        FieldSlot {
            nested: self.add_segments(&segments),
            literal: None,
        }
    }

    fn add_segments(&mut self, segments: &[String]) -> usize {
        if self.nodes.is_empty() {
            self.nodes.push(ResolverNode::default());
        }
        let mut node = 0;
        for segment in segments {
            let existing = self.nodes[node]
                .children
                .iter()
                .find(|(k, _)| k == segment)
                .map(|&(_, n)| n);
            node = match existing {
                Some(n) => n,
                None => {
                    self.nodes.push(ResolverNode::default());
                    let n = self.nodes.len() - 1;
                    self.nodes[node].children.push((segment.clone(), n));
                    n
                }
            };
        }
        match self.nodes[node].slot {
            Some(slot) => slot,
            None => {
                self.nodes[node].slot = Some(self.slots);
                self.slots += 1;
                self.slots - 1
            }
        }
    }

    /// The number of slots [`FieldResolver::resolve`] fills.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Fills `slots` (length [`FieldResolver::slots`]) with the value of every registered field.
    pub fn resolve<'a>(&self, alert: &'a Alert, slots: &mut [Option<&'a serde_json::Value>]) {
        slots.fill(None);
        if !self.nodes.is_empty() {
            self.resolve_node(0, alert, slots);
        }
    }

    fn resolve_node<'a>(
        &self,
        node: usize,
        object: &'a Alert,
        slots: &mut [Option<&'a serde_json::Value>],
    ) {
        let children = &self.nodes[node].children;
        // One scan, comparing lengths first: the lengths sit in the map's nodes, the key bytes
        // in their own allocations, so only same-length keys cost a cache miss. (A map `get`
        // compares bytes of several keys on its way down, even for a single wanted key.)
        let mut missing = children.len();
        for (key, value) in object {
            if let Some((_, child)) = children
                .iter()
                .find(|(k, _)| k.len() == key.len() && k == key)
            {
                self.found(*child, value, slots);
                missing -= 1;
                if missing == 0 {
                    break;
                }
            }
        }
    }

    fn found<'a>(
        &self,
        node: usize,
        value: &'a serde_json::Value,
        slots: &mut [Option<&'a serde_json::Value>],
    ) {
        if let Some(slot) = self.nodes[node].slot {
            slots[slot] = Some(value);
        }
        if !self.nodes[node].children.is_empty() {
            if let serde_json::Value::Object(object) = value {
                self.resolve_node(node, object, slots);
            }
        }
    }
}

impl FieldSlot {
    /// The field's value among resolved `slots`.
    pub fn get<'a>(self, slots: &[Option<&'a serde_json::Value>]) -> Option<&'a serde_json::Value> {
        slots[self.nested].or_else(|| self.literal.and_then(|l| slots[l]))
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
    fn resolver_agrees_with_lookup() {
        let paths = [
            "rule.level",
            "rule.groups",
            "timestamp",
            "data.cpu_usage_%",
            "rule.level",
            "a.b.c",
            "rule",
        ];
        let alerts = [
            json!({"rule": {"level": 5, "groups": ["x"]}, "timestamp": "t", "data": {"cpu_usage_%": "6.2"}}),
            json!({"rule.level": 7, "rule": {"groups": 1}, "a": {"b": {"c": null}}}),
            json!({"rule": 3, "data": [1], "a.b.c": true, "a": {"b": 2}}),
            json!({}),
        ];
        let mut resolver = FieldResolver::default();
        let parsed: Vec<FieldPath> = paths
            .iter()
            .map(|p| FieldPath::parse(p).expect("valid"))
            .collect();
        let slots: Vec<FieldSlot> = parsed.iter().map(|p| resolver.add(p)).collect();
        assert_eq!(slots[0], slots[4], "one slot per distinct path");
        for alert in &alerts {
            let alert = alert.as_object().expect("object");
            let mut values = vec![None; resolver.slots()];
            resolver.resolve(alert, &mut values);
            for (path, slot) in parsed.iter().zip(&slots) {
                assert_eq!(slot.get(&values), path.lookup(alert), "{path} in {alert:?}");
            }
        }
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
