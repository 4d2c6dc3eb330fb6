//! The feature builder's field lookup: every [`FieldPath`] a plan reads, compiled into one
//! resolver so a single pass over an alert finds them all.

use crate::field::FieldPath;
use crate::source::Alert;

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
    /// `(key, node)` for each key needed in this object, sorted by key length.
    children: Vec<(String, usize)>,
    /// `children[by_len[n]..by_len[n + 1]]` are the keys of `n` bytes; a map key longer than
    /// every wanted key (`n + 1 >= by_len.len()`) is skipped without reading its bytes.
    by_len: Vec<usize>,
    /// The slot receiving the value found at this node, if a field ends here.
    slot: Option<usize>,
}

impl ResolverNode {
    fn add_child(&mut self, key: &str, node: usize) {
        self.children.push((key.to_owned(), node));
        self.children.sort_by_key(|(k, _)| k.len());
        let longest = self.children.last().map_or(0, |(k, _)| k.len());
        self.by_len = (0..=longest + 1)
            .map(|n| self.children.partition_point(|(k, _)| k.len() < n))
            .collect();
    }

    /// The wanted keys as long as `key`.
    fn same_length(&self, key: &str) -> &[(String, usize)] {
        match self.by_len.get(key.len()..key.len() + 2) {
            Some(&[start, end]) => &self.children[start..end],
            _ => &[],
        }
    }
}

/// Equality of two byte strings of the same length, inline: two overlapping word loads for up
/// to 16 bytes (most JSON keys) instead of a call to `memcmp`.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len();
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => a == b,
    }
}

/// Reads the first byte of a string value, or of each string in a list, so that these loads
/// are under way while the rest of the alert is resolved (the builder reads them next).
fn warm(value: &serde_json::Value) {
    let first = |s: &str| s.as_bytes().first().copied().unwrap_or(0);
    let byte = match value {
        serde_json::Value::String(s) => first(s),
        serde_json::Value::Array(items) => items
            .iter()
            .take(8)
            .filter_map(serde_json::Value::as_str)
            .fold(0, |acc, s| acc ^ first(s)),
        _ => 0,
    };
    std::hint::black_box(byte);
}

/// `N` (4 or 8) bytes of `s` from `at`, as an integer.
fn word<const N: usize>(s: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..N].copy_from_slice(&s[at..at + N]);
    u64::from_ne_bytes(bytes)
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
        let nested = self.add_segments(path.segments());
        let literal =
            (path.segments().len() > 1).then(|| self.add_segments(&[path.as_str().to_owned()]));
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
                    self.nodes[node].add_child(segment, n);
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
        let wanted = &self.nodes[node];
        // One scan, choosing candidates by length first: the lengths sit in the map's nodes,
        // the key bytes in their own allocations, so only same-length keys cost a cache miss.
        // (A map `get` compares bytes of several keys on its way down, even for a single
        // wanted key.)
        let mut missing = wanted.children.len();
        for (key, value) in object {
            if let Some((_, child)) = wanted
                .same_length(key)
                .iter()
                .find(|(k, _)| same_bytes(k.as_bytes(), key.as_bytes()))
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
            warm(value);
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
        self.found_in(slots).and_then(|i| slots[i])
    }

    /// Which of the resolved `slots` holds the field's value (`None` when it is absent): two
    /// fields reading the same slot read the same value.
    pub fn found_in(self, slots: &[Option<&serde_json::Value>]) -> Option<usize> {
        match self.literal {
            Some(literal) if slots[self.nested].is_none() => {
                slots[literal].is_some().then_some(literal)
            }
            _ => slots[self.nested].is_some().then_some(self.nested),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let slots = check_resolver(&paths, &alerts);
        assert_eq!(slots[0], slots[4], "one slot per distinct path");
    }

    /// Resolves every alert with one resolver for `paths` and checks each field against
    /// [`FieldPath::lookup`]; returns the fields' slots.
    fn check_resolver(paths: &[&str], alerts: &[serde_json::Value]) -> Vec<FieldSlot> {
        let mut resolver = FieldResolver::default();
        let parsed: Vec<FieldPath> = paths
            .iter()
            .map(|p| FieldPath::parse(p).expect("valid"))
            .collect();
        let slots: Vec<FieldSlot> = parsed.iter().map(|p| resolver.add(p)).collect();
        for alert in alerts {
            let alert = alert.as_object().expect("object");
            let mut values = vec![None; resolver.slots()];
            resolver.resolve(alert, &mut values);
            for (path, slot) in parsed.iter().zip(&slots) {
                let expected = path.lookup(alert);
                assert_eq!(slot.get(&values), expected, "{path} in {alert:?}");
                let found = slot.found_in(&values).and_then(|i| values[i]);
                assert_eq!(found, expected, "{path} in {alert:?}");
            }
        }
        slots
    }

    #[test]
    fn same_bytes_compares_every_byte() {
        for n in 0..=24usize {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_bytes(&a, &a.clone()), "length {n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x20;
                assert!(!same_bytes(&a, &b), "length {n}, byte {i} differs");
            }
        }
    }

    #[test]
    fn resolver_tells_apart_keys_of_one_length() {
        let paths = [
            "rule.level",
            "ruld.level",
            "data.x",
            "rule.lever",
            "r.level",
            "rule",
        ];
        let alert = json!({
            "rule": {"level": 1, "lever": 2, "levem": 3},
            "ruld": {"level": 4},
            "rulf": {"level": 5},
            "data": {"x": 6, "y": 7},
            "datb": {"x": 8},
            "r.level": 9,
        });
        let flattened = json!({"rule": {"lever": 1}, "rule.level": 2, "data.x": 3});
        check_resolver(&paths, &[alert, flattened]);
    }
}
