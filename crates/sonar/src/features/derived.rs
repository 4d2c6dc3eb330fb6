//! The 13 derived flags of the original (reference/sonar_original.md §5.2), same names, same
//! order, same thresholds. Each is 1 or 0 per alert; the bucket value is the fraction of the
//! bucket's alerts with the flag set.
//!
//! Made robust where the original crashed or guessed: `rule.level` and the resource values may
//! be numbers or numeric strings (anything else counts as "not set"); `rule.groups` may be a
//! list (exact membership, non-string elements ignored) or a string, read as a comma-separated
//! list (the original did substring matching on strings).

use serde_json::Value;

use super::path::{FieldResolver, FieldSlot};
use super::value::{numeric, Numeric};
use crate::source::Alert;

/// Column names of the derived flags, in column order.
pub const DERIVED_NAMES: [&str; 13] = [
    "is_auth_failure",
    "is_auth_success",
    "is_brute_force",
    "is_privilege_event",
    "is_high_severity",
    "is_critical_severity",
    "is_ssh_event",
    "is_windows_logon",
    "is_cpu_high",
    "is_cpu_critical",
    "is_memory_high",
    "is_memory_critical",
    "is_high_load",
];

const AUTH_FAILURE: u16 = 1 << 0;
const AUTH_SUCCESS: u16 = 1 << 1;
const BRUTE_FORCE: u16 = 1 << 2;
const PRIVILEGE: u16 = 1 << 3;
const HIGH_SEVERITY: u16 = 1 << 4;
const CRITICAL_SEVERITY: u16 = 1 << 5;
const SSH: u16 = 1 << 6;
const WINDOWS_LOGON: u16 = 1 << 7;
const CPU_HIGH: u16 = 1 << 8;
const CPU_CRITICAL: u16 = 1 << 9;
const MEMORY_HIGH: u16 = 1 << 10;
const MEMORY_CRITICAL: u16 = 1 << 11;
const HIGH_LOAD: u16 = 1 << 12;

/// The flags an alert sets, bit `i` for `DERIVED_NAMES[i]`.
pub fn derived_flags(alert: &Alert) -> u16 {
    let rule = alert.get("rule").and_then(Value::as_object);
    let data = alert.get("data").and_then(Value::as_object);
    flags_from(DerivedInputs {
        groups: rule.and_then(|r| r.get("groups")),
        level: rule.and_then(|r| r.get("level")),
        cpu: data.and_then(|d| d.get("cpu_usage_%")),
        memory: data.and_then(|d| d.get("memory_usage_%")),
        load: data.and_then(|d| d.get("1min_loadAverage")),
    })
}

/// The five alert values the flags read.
#[derive(Debug, Clone, Copy, Default)]
pub struct DerivedInputs<'a> {
    /// `rule.groups`.
    pub groups: Option<&'a Value>,
    /// `rule.level`.
    pub level: Option<&'a Value>,
    /// `data["cpu_usage_%"]`.
    pub cpu: Option<&'a Value>,
    /// `data["memory_usage_%"]`.
    pub memory: Option<&'a Value>,
    /// `data["1min_loadAverage"]`.
    pub load: Option<&'a Value>,
}

/// Where the five inputs land in a [`FieldResolver`]'s slots.
#[derive(Debug, Clone, Copy)]
pub struct DerivedSlots {
    groups: FieldSlot,
    level: FieldSlot,
    cpu: FieldSlot,
    memory: FieldSlot,
    load: FieldSlot,
}

impl DerivedSlots {
    /// Registers the five fixed keys (no literal-key fallback, as in the original).
    pub fn register(resolver: &mut FieldResolver) -> Self {
        Self {
            groups: resolver.add_nested(&["rule", "groups"]),
            level: resolver.add_nested(&["rule", "level"]),
            cpu: resolver.add_nested(&["data", "cpu_usage_%"]),
            memory: resolver.add_nested(&["data", "memory_usage_%"]),
            load: resolver.add_nested(&["data", "1min_loadAverage"]),
        }
    }

    /// The inputs among resolved slots.
    pub fn inputs<'a>(&self, slots: &[Option<&'a Value>]) -> DerivedInputs<'a> {
        DerivedInputs {
            groups: self.groups.get(slots),
            level: self.level.get(slots),
            cpu: self.cpu.get(slots),
            memory: self.memory.get(slots),
            load: self.load.get(slots),
        }
    }

    /// The flags of the alert resolved in `slots`, as [`flags_from`] gives them, reading the
    /// four numbers with `read` (the builder's per-alert memo, so that a value already read for
    /// a numeric column is not parsed again).
    pub fn flags(
        &self,
        slots: &[Option<&Value>],
        mut read: impl FnMut(FieldSlot) -> Numeric,
    ) -> u16 {
        let numbers =
            [self.level, self.cpu, self.memory, self.load].map(|slot| read(slot).usable());
        flags_with(self.groups.get(slots), numbers)
    }
}

/// The flags set by these inputs, bit `i` for `DERIVED_NAMES[i]`.
pub fn flags_from(inputs: DerivedInputs<'_>) -> u16 {
    let numbers = [inputs.level, inputs.cpu, inputs.memory, inputs.load].map(number);
    flags_with(inputs.groups, numbers)
}

/// The flags set by `rule.groups` and the four numbers (level, cpu, memory, load).
fn flags_with(groups: Option<&Value>, [level, cpu, memory, load]: [Option<f64>; 4]) -> u16 {
    let mut flags = 0;
    match groups {
        Some(Value::Array(groups)) => {
            for group in groups {
                if let Value::String(g) = group {
                    flags |= group_flags(g);
                }
            }
        }
        Some(Value::String(groups)) => {
            for g in groups.split(',') {
                flags |= group_flags(g.trim());
            }
        }
        _ => {}
    }
    if let Some(level) = level {
        flags |= threshold(level, 10.0, HIGH_SEVERITY) | threshold(level, 12.0, CRITICAL_SEVERITY);
    }
    if let Some(cpu) = cpu {
        flags |= threshold(cpu, 80.0, CPU_HIGH) | threshold(cpu, 95.0, CPU_CRITICAL);
    }
    if let Some(memory) = memory {
        flags |= threshold(memory, 80.0, MEMORY_HIGH) | threshold(memory, 95.0, MEMORY_CRITICAL);
    }
    if let Some(load) = load {
        flags |= threshold(load, 4.0, HIGH_LOAD);
    }
    flags
}

fn threshold(value: f64, at_least: f64, flag: u16) -> u16 {
    if value >= at_least {
        flag
    } else {
        0
    }
}

/// A number or numeric string; NaN never passes a `>=` test, so it needs no special case.
fn number(value: Option<&Value>) -> Option<f64> {
    numeric(value).usable()
}

/// The flags `rule.groups` sets, as data for the indexer's aggregations
/// (source/indexer/aggregate.rs): per flag, its index in [`DERIVED_NAMES`] and the group
/// values that set it. `group_flags` is the same rule for one value (a test keeps them equal).
pub const GROUP_RULES: [(usize, &[&str]); 6] = [
    (
        0,
        &["failed_login", "authentication_failed", "invalid_login"],
    ),
    (1, &["authentication_success", "session_opened"]),
    (2, &["brute_force"]),
    (
        3,
        &["sudo", "su", "privilege_escalation", "account_changed"],
    ),
    (6, &["ssh", "sshd"]),
    (7, &["windows_logon", "windows", "win_logon"]),
];

/// The flags a number sets, as data for the indexer's aggregations: per flag, its index in
/// [`DERIVED_NAMES`], the field and the least value that sets it (`>=`).
pub const THRESHOLD_RULES: [(usize, &str, f64); 7] = [
    (4, "rule.level", 10.0),
    (5, "rule.level", 12.0),
    (8, "data.cpu_usage_%", 80.0),
    (9, "data.cpu_usage_%", 95.0),
    (10, "data.memory_usage_%", 80.0),
    (11, "data.memory_usage_%", 95.0),
    (12, "data.1min_loadAverage", 4.0),
];

fn group_flags(group: &str) -> u16 {
    match group {
        "failed_login" | "authentication_failed" | "invalid_login" => AUTH_FAILURE,
        "authentication_success" | "session_opened" => AUTH_SUCCESS,
        "brute_force" => BRUTE_FORCE,
        "sudo" | "su" | "privilege_escalation" | "account_changed" => PRIVILEGE,
        "ssh" | "sshd" => SSH,
        "windows_logon" | "windows" | "win_logon" => WINDOWS_LOGON,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `expected` lists the names of the flags that must be set, and no others.
    fn check(alert: Value, expected: &[&str]) {
        let object = alert.as_object().expect("test alerts are objects");
        let flags = derived_flags(object);
        let mut resolver = FieldResolver::default();
        let slots = DerivedSlots::register(&mut resolver);
        let mut values = vec![None; resolver.slots()];
        resolver.resolve(object, &mut values);
        assert_eq!(
            flags_from(slots.inputs(&values)),
            flags,
            "resolver path: {alert}"
        );
        assert_eq!(
            slots.flags(&values, |slot| numeric(slot.get(&values))),
            flags,
            "resolver path, numbers read through the slots: {alert}"
        );
        let set: Vec<&str> = DERIVED_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| flags & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(set, expected, "{alert}");
    }

    /// The tables the indexer's aggregations use say what the per-alert code does.
    #[test]
    fn rule_tables_match_the_flags() {
        let mut covered = 0u16;
        for (flag, values) in GROUP_RULES {
            for value in values {
                assert_eq!(group_flags(value), 1 << flag, "{value}");
                covered |= 1 << flag;
            }
        }
        for (flag, field, at_least) in THRESHOLD_RULES {
            let (outer, inner) = field.split_once('.').expect("dotted");
            let alert = |v: f64| json!({ outer: { inner: v } });
            let set = |v: f64| flags_from_alert(&alert(v)) & (1 << flag) != 0;
            assert!(set(at_least), "{field} at {at_least}");
            assert!(!set(at_least - 0.01), "{field} below {at_least}");
            covered |= 1 << flag;
        }
        assert_eq!(
            covered,
            (1 << DERIVED_NAMES.len()) - 1,
            "every flag has a rule"
        );
    }

    fn flags_from_alert(alert: &Value) -> u16 {
        derived_flags(alert.as_object().expect("object"))
    }

    #[test]
    fn group_rules() {
        check(
            json!({"rule": {"groups": ["failed_login"]}}),
            &["is_auth_failure"],
        );
        check(
            json!({"rule": {"groups": ["authentication_failed"]}}),
            &["is_auth_failure"],
        );
        check(
            json!({"rule": {"groups": ["invalid_login"]}}),
            &["is_auth_failure"],
        );
        check(
            json!({"rule": {"groups": ["authentication_success"]}}),
            &["is_auth_success"],
        );
        check(
            json!({"rule": {"groups": ["session_opened"]}}),
            &["is_auth_success"],
        );
        check(
            json!({"rule": {"groups": ["brute_force"]}}),
            &["is_brute_force"],
        );
        for g in ["sudo", "su", "privilege_escalation", "account_changed"] {
            check(json!({"rule": {"groups": [g]}}), &["is_privilege_event"]);
        }
        check(json!({"rule": {"groups": ["sshd"]}}), &["is_ssh_event"]);
        check(json!({"rule": {"groups": ["ssh"]}}), &["is_ssh_event"]);
        for g in ["windows_logon", "windows", "win_logon"] {
            check(json!({"rule": {"groups": [g]}}), &["is_windows_logon"]);
        }
        check(
            json!({"rule": {"groups": ["authentication", "failed_login", "brute_force", "sshd"]}}),
            &["is_auth_failure", "is_brute_force", "is_ssh_event"],
        );
        // Exact membership: no substring matching, case-sensitive, odd elements ignored.
        check(
            json!({"rule": {"groups": ["sshd_extra", "SSH", 3, null, ["ssh"]]}}),
            &[],
        );
        // A string is a comma-separated list.
        check(
            json!({"rule": {"groups": "syslog, sshd,failed_login"}}),
            &["is_auth_failure", "is_ssh_event"],
        );
        check(json!({"rule": {"groups": {"ssh": true}}}), &[]);
        check(json!({"rule": "ssh"}), &[]);
    }

    #[test]
    fn level_rules() {
        check(json!({"rule": {"level": 9}}), &[]);
        check(json!({"rule": {"level": 10}}), &["is_high_severity"]);
        check(json!({"rule": {"level": 11.9}}), &["is_high_severity"]);
        check(
            json!({"rule": {"level": 12}}),
            &["is_high_severity", "is_critical_severity"],
        );
        check(
            json!({"rule": {"level": "12"}}),
            &["is_high_severity", "is_critical_severity"],
        );
        check(json!({"rule": {"level": "high"}}), &[]);
        check(json!({"rule": {"level": [12]}}), &[]);
        check(json!({"rule": {"level": null}}), &[]);
    }

    #[test]
    fn resource_rules() {
        check(json!({"data": {"cpu_usage_%": 90}}), &["is_cpu_high"]);
        check(json!({"data": {"cpu_usage_%": 50}}), &[]);
        check(json!({"data": {"cpu_usage_%": 80}}), &["is_cpu_high"]);
        check(
            json!({"data": {"cpu_usage_%": 97}}),
            &["is_cpu_high", "is_cpu_critical"],
        );
        check(
            json!({"data": {"cpu_usage_%": "95.0"}}),
            &["is_cpu_high", "is_cpu_critical"],
        );
        check(json!({"data": {"memory_usage_%": 85}}), &["is_memory_high"]);
        check(
            json!({"data": {"memory_usage_%": "96"}}),
            &["is_memory_high", "is_memory_critical"],
        );
        check(
            json!({"data": {"1min_loadAverage": 5.0}}),
            &["is_high_load"],
        );
        check(
            json!({"data": {"1min_loadAverage": "4"}}),
            &["is_high_load"],
        );
        check(json!({"data": {"1min_loadAverage": 1.5}}), &[]);
        check(
            json!({"data": {"cpu_usage_%": "NaN", "memory_usage_%": "inf"}}),
            &[],
        );
        check(json!({"data": "cpu_usage_%=99"}), &[]);
        check(json!({}), &[]);
    }
}
