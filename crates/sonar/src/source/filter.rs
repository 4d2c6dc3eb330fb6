//! `alert_filter` evaluated in-process, for local alert files in debug mode.
//!
//! Against the indexer the scenario's `alert_filter` is an OpenSearch query placed in
//! `bool.must`, and the server evaluates it. Local files have no server, so [`AlertFilter`]
//! compiles the subset of the query DSL that Wazuh operators write into a small tree once, and
//! tests every alert against it. A clause outside the subset is an error when the filter is
//! compiled (at settings load in debug mode), never a filter that silently lets everything
//! through.
//!
//! Supported: `term`, `terms`, `match`, `match_phrase`, `range` (`gt`/`gte`/`lt`/`lte`),
//! `exists`, `prefix`, `wildcard` (`*`, `?`, `\` escapes), `bool` (`must`, `filter`, `should`
//! with `minimum_should_match`, `must_not`), `match_all`, `match_none`. `boost` and `_name` are
//! accepted and ignored (they do not change which alerts match).
//!
//! Semantics follow Wazuh's index template, where string fields are `keyword`:
//! - values are compared whole and case-sensitively (`case_insensitive: true` where
//!   OpenSearch accepts it); a list-valued field (`rule.groups`) matches when any element
//!   does; dotted paths descend nested objects (and arrays of objects), with a flattened
//!   top-level key (`{"rule.level": 5}`) as fallback; a trailing `.keyword` also reads the
//!   field itself (the keyword sub-field of a dynamically mapped cluster);
//! - `match` and `match_phrase` compare the whole value, like on a `keyword` field. On an
//!   analysed `text` field (`full_log` in Wazuh's template) the indexer would match single
//!   words instead; the local result differs there;
//! - a value is typed by its JSON type, as Wazuh's template and dynamic mappings type it: a
//!   JSON number is numeric (`term: {rule.level: "10"}` matches `10`), a string is a keyword
//!   (`term: {data.cpu_usage_%: 9}` matches `"9"`, comparing the query's JSON text);
//! - `range` compares JSON numbers numerically, timestamps as instants (a JSON-number bound
//!   as epoch milliseconds), and other strings in byte order, as the indexer does on a
//!   `keyword` field (so `"9" >= 50` is true there and here). The one case that differs:
//!   numeric strings in a field the cluster maps as numeric, which it would coerce. Date math
//!   (`now-1d`, `||/d`), partial dates and `format`/`time_zone` are refused.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::timestamp::parse_timestamp;
use super::Alert;
use crate::field::FieldPath;
use crate::Error;

/// The clauses [`AlertFilter`] understands, for messages.
pub const SUPPORTED_CLAUSES: &str =
    "term, terms, match, match_phrase, range, exists, prefix, wildcard, bool, match_all, match_none";

/// A clause's parameters (`{"value": ..., "case_insensitive": true}`).
type Params = Map<String, Value>;

/// Parameters every clause accepts and that do not change which alerts match.
const SCORING_PARAMS: &[&str] = &["boost", "_name"];

/// A compiled `alert_filter`: the query DSL subset above, ready to test alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertFilter {
    root: Clause,
}

impl AlertFilter {
    /// Compiles an OpenSearch query object. Errors name the offending clause by its path
    /// inside the filter (`alert_filter.bool.must[1].query_string`).
    pub fn parse(query: &Value) -> Result<Self, Error> {
        Ok(Self {
            root: clause(query, "alert_filter")?,
        })
    }

    /// True when `alert` matches the filter.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.root.matches(alert)
    }
}

/// One node of the compiled query.
#[derive(Debug, Clone, PartialEq)]
enum Clause {
    All,
    Nothing,
    /// `term`, `terms`, `match`, `match_phrase`: any value of the field equals any of these.
    Equals {
        field: Field,
        values: Vec<Scalar>,
        case_insensitive: bool,
    },
    Range {
        field: Field,
        lower: Option<(Bound, bool)>,
        upper: Option<(Bound, bool)>,
    },
    Exists {
        field: Field,
    },
    Prefix {
        field: Field,
        prefix: String,
        case_insensitive: bool,
    },
    Wildcard {
        field: Field,
        pattern: Vec<Glob>,
        case_insensitive: bool,
    },
    Bool {
        must: Vec<Clause>,
        must_not: Vec<Clause>,
        should: Vec<Clause>,
        minimum_should_match: usize,
    },
}

impl Clause {
    fn matches(&self, alert: &Alert) -> bool {
        match self {
            Self::All => true,
            Self::Nothing => false,
            Self::Equals {
                field,
                values,
                case_insensitive,
            } => field.any(alert, &mut |v| {
                values.iter().any(|s| s.equals(v, *case_insensitive))
            }),
            Self::Range {
                field,
                lower,
                upper,
            } => field.any(alert, &mut |v| {
                let within = |bound: &Option<(Bound, bool)>, wanted: Ordering| match bound {
                    None => true,
                    Some((b, inclusive)) => match b.compare(v) {
                        Some(Ordering::Equal) => *inclusive,
                        Some(o) => o == wanted,
                        None => false,
                    },
                };
                within(lower, Ordering::Greater) && within(upper, Ordering::Less)
            }),
            Self::Exists { field } => field.any(alert, &mut has_value),
            Self::Prefix {
                field,
                prefix,
                case_insensitive,
            } => field.any(alert, &mut |v| match v {
                Value::String(s) if *case_insensitive => s.to_lowercase().starts_with(prefix),
                Value::String(s) => s.starts_with(prefix.as_str()),
                _ => false,
            }),
            Self::Wildcard {
                field,
                pattern,
                case_insensitive,
            } => field.any(alert, &mut |v| match v {
                Value::String(s) if *case_insensitive => {
                    glob_matches(pattern, &s.to_lowercase().chars().collect::<Vec<_>>())
                }
                Value::String(s) => glob_matches(pattern, &s.chars().collect::<Vec<_>>()),
                _ => false,
            }),
            Self::Bool {
                must,
                must_not,
                should,
                minimum_should_match,
            } => {
                must.iter().all(|c| c.matches(alert))
                    && !must_not.iter().any(|c| c.matches(alert))
                    && (*minimum_should_match == 0
                        || should.iter().filter(|c| c.matches(alert)).count()
                            >= *minimum_should_match)
            }
        }
    }
}

/// `exists`: a non-null value; an object counts when it holds a non-null value somewhere.
fn has_value(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => m.values().any(|v| match v {
            Value::Array(items) => items.iter().any(has_value),
            other => has_value(other),
        }),
        _ => true,
    }
}

/// A field path with the spellings it is looked up under (nested, flattened, without
/// `.keyword`).
#[derive(Debug, Clone, PartialEq)]
struct Field {
    spellings: Vec<Vec<String>>,
}

impl Field {
    fn parse(text: &str, at: &str) -> Result<Self, Error> {
        if FieldPath::parse(text).is_none() {
            return Err(problem(
                at,
                format!("`{text}` is not a dotted field path (empty segment)"),
            ));
        }
        let mut spellings = vec![text.split('.').map(str::to_owned).collect::<Vec<_>>()];
        if spellings[0].len() > 1 {
            spellings.push(vec![text.to_owned()]);
        }
        if let Some(base) = text.strip_suffix(".keyword") {
            spellings.push(base.split('.').map(str::to_owned).collect());
            if base.contains('.') {
                spellings.push(vec![base.to_owned()]);
            }
        }
        Ok(Self { spellings })
    }

    /// Calls `test` on every value of the field (list elements one by one) until it says true.
    fn any(&self, alert: &Alert, test: &mut dyn FnMut(&Value) -> bool) -> bool {
        self.spellings.iter().any(|segments| {
            let Some((first, rest)) = segments.split_first() else {
                return false;
            };
            alert
                .get(first.as_str())
                .is_some_and(|v| walk(v, rest, test))
        })
    }
}

fn walk(value: &Value, rest: &[String], test: &mut dyn FnMut(&Value) -> bool) -> bool {
    if let Value::Array(items) = value {
        return items.iter().any(|v| walk(v, rest, test));
    }
    match rest.split_first() {
        None => test(value),
        Some((key, rest)) => value
            .as_object()
            .and_then(|m| m.get(key.as_str()))
            .is_some_and(|v| walk(v, rest, test)),
    }
}

/// A value of `term`, `terms`, `match` or `match_phrase`.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Text(String),
    /// The number and its JSON text (what a keyword field compares).
    Number(f64, String),
    Flag(bool),
}

impl Scalar {
    fn parse(v: &Value, at: &str) -> Result<Self, Error> {
        match v {
            Value::String(s) => Ok(Self::Text(s.clone())),
            Value::Number(n) => n
                .as_f64()
                .map(|f| Self::Number(f, n.to_string()))
                .ok_or_else(|| problem(at, format!("{n} is not a usable number"))),
            Value::Bool(b) => Ok(Self::Flag(*b)),
            other => Err(problem(
                at,
                format!(
                    "expected a string, number or boolean to compare with, found {}",
                    excerpt(other)
                ),
            )),
        }
    }

    /// Equality as the indexer sees it on a keyword, numeric or boolean field.
    fn equals(&self, v: &Value, case_insensitive: bool) -> bool {
        match (self, v) {
            (Self::Text(q), Value::String(s)) if case_insensitive => {
                q.to_lowercase() == s.to_lowercase()
            }
            (Self::Text(q), Value::String(s)) => q == s,
            (Self::Text(q), Value::Number(n)) => number(q).is_some_and(|q| n.as_f64() == Some(q)),
            (Self::Text(q), Value::Bool(b)) => q == if *b { "true" } else { "false" },
            (Self::Number(q, _), Value::Number(n)) => n.as_f64() == Some(*q),
            (Self::Number(_, text), Value::String(s)) => s == text,
            (Self::Flag(q), Value::Bool(b)) => q == b,
            (Self::Flag(q), Value::String(s)) => s == if *q { "true" } else { "false" },
            _ => false,
        }
    }
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A `range` bound, with the readings its JSON value allows.
#[derive(Debug, Clone, PartialEq)]
struct Bound {
    /// What a keyword field compares: the string, or the number's JSON text.
    text: String,
    /// The numeric reading (a JSON number, or a numeric string).
    number: Option<f64>,
    /// The timestamp reading of a string.
    time: Option<DateTime<Utc>>,
}

impl Bound {
    fn parse(v: &Value, at: &str) -> Result<Self, Error> {
        match v {
            Value::Number(n) => Ok(Self {
                text: n.to_string(),
                number: n.as_f64(),
                time: None,
            }),
            Value::String(s) => {
                if s.starts_with("now") || s.contains("||") {
                    return Err(problem(at, format!("date math {s:?} is not evaluated for local files in debug mode; write an absolute timestamp such as 2024-05-01T00:00:00Z")));
                }
                let time = parse_timestamp(s).ok();
                if time.is_none() && looks_like_date(s) {
                    return Err(problem(at, format!("{s:?} is not a full timestamp; write date and time, e.g. {}T00:00:00Z (partial dates round differently on the indexer)", s.get(..10).unwrap_or(s))));
                }
                Ok(Self {
                    text: s.clone(),
                    number: number(s),
                    time,
                })
            }
            other => Err(problem(
                at,
                format!(
                    "a range bound must be a number or a string, found {}",
                    excerpt(other)
                ),
            )),
        }
    }

    /// How the value compares with this bound (`Greater`: the value is above it), or `None`
    /// when they cannot be compared (the value then does not match).
    fn compare(&self, v: &Value) -> Option<Ordering> {
        match v {
            Value::Number(n) => {
                let n = n.as_f64()?;
                match (self.number, self.time) {
                    (Some(b), _) => n.partial_cmp(&b),
                    (None, Some(t)) => n.partial_cmp(&(t.timestamp_millis() as f64)),
                    (None, None) => None,
                }
            }
            Value::String(s) => match (self.time, self.number, parse_timestamp(s)) {
                (Some(t), _, Ok(value)) => Some(value.cmp(&t)),
                // A date field against epoch milliseconds.
                (None, Some(b), Ok(value)) => (value.timestamp_millis() as f64).partial_cmp(&b),
                _ => Some(s.as_str().cmp(self.text.as_str())),
            },
            _ => None,
        }
    }
}

/// `YYYY-MM…`: meant as a date.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 7 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// One element of a `wildcard` pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Glob {
    Char(char),
    /// `?`
    One,
    /// `*`
    Many,
}

fn glob(pattern: &str) -> Vec<Glob> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Glob::Many,
            '?' => Glob::One,
            '\\' => Glob::Char(chars.next().unwrap_or('\\')),
            c => Glob::Char(c),
        });
    }
    out
}

/// Wildcard match with one backtracking point (the last `*`): linear in practice.
fn glob_matches(pattern: &[Glob], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Glob::Many) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Glob::One) => {
                p += 1;
                t += 1;
            }
            Some(Glob::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|g| *g == Glob::Many)
}

// ---- parsing -----------------------------------------------------------------------------

fn problem(at: &str, problem: impl Into<String>) -> Error {
    Error::AlertFilter {
        at: at.to_owned(),
        problem: problem.into(),
    }
}

fn excerpt(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

fn object<'a>(v: &'a Value, at: &str, what: &str) -> Result<&'a Map<String, Value>, Error> {
    v.as_object().ok_or_else(|| {
        problem(
            at,
            format!("expected {what} (a JSON object), found {}", excerpt(v)),
        )
    })
}

/// Refuses any key of `params` outside `allowed` and the scoring parameters.
fn only(params: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), Error> {
    for key in params.keys() {
        if !allowed.contains(&key.as_str()) && !SCORING_PARAMS.contains(&key.as_str()) {
            let mut known: Vec<&str> = allowed.to_vec();
            known.extend(SCORING_PARAMS);
            return Err(problem(
                &format!("{at}.{key}"),
                format!(
                    "parameter `{key}` is not supported for local files in debug mode (supported here: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn flag(params: &Map<String, Value>, key: &str, at: &str) -> Result<bool, Error> {
    match params.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(problem(
            &format!("{at}.{key}"),
            format!("expected true or false, found {}", excerpt(other)),
        )),
    }
}

/// A query object: exactly one clause name mapped to its body.
fn clause(v: &Value, at: &str) -> Result<Clause, Error> {
    let map = object(
        v,
        at,
        "a query clause such as {\"term\": {\"rule.id\": \"5710\"}}",
    )?;
    let mut entries = map.iter();
    let (name, body) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => {
            return Err(problem(
                at,
                "an empty query object; write {\"match_all\": {}} to keep every alert",
            ))
        }
        (Some(_), Some(_)) => {
            let names: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(problem(
                at,
                format!(
                    "a query object holds one clause, found {}; combine them with bool.must",
                    names.join(", ")
                ),
            ));
        }
    };
    let at = format!("{at}.{name}");
    match name.as_str() {
        "match_all" | "match_none" => {
            only(object(body, &at, "an object")?, &[], &at)?;
            Ok(if name == "match_all" {
                Clause::All
            } else {
                Clause::Nothing
            })
        }
        "term" => field_clause(body, &at, &["value", "case_insensitive"], |field, v, at| {
            let (value, params) = value_and_params(v, "value", at)?;
            Ok(Clause::Equals {
                field,
                values: vec![Scalar::parse(value, at)?],
                case_insensitive: params.map_or(Ok(false), |p| flag(p, "case_insensitive", at))?,
            })
        }),
        "match" | "match_phrase" => {
            let allowed: &[&str] = if name == "match" {
                &["query", "operator"]
            } else {
                &["query"]
            };
            field_clause(body, &at, allowed, |field, v, at| {
                let (value, _) = value_and_params(v, "query", at)?;
                Ok(Clause::Equals {
                    field,
                    values: vec![Scalar::parse(value, at)?],
                    case_insensitive: false,
                })
            })
        }
        "terms" => field_clause(body, &at, &[], |field, v, at| {
            let Value::Array(items) = v else {
                return Err(problem(at, format!("expected a list of values, found {} (the terms-lookup form is not supported for local files)", excerpt(v))));
            };
            let values = items
                .iter()
                .enumerate()
                .map(|(i, item)| Scalar::parse(item, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?;
            Ok(Clause::Equals {
                field,
                values,
                case_insensitive: false,
            })
        }),
        "prefix" => field_clause(body, &at, &["value", "case_insensitive"], |field, v, at| {
            let (value, params) = value_and_params(v, "value", at)?;
            let case_insensitive = params.map_or(Ok(false), |p| flag(p, "case_insensitive", at))?;
            let Value::String(prefix) = value else {
                return Err(problem(
                    at,
                    format!("expected a string prefix, found {}", excerpt(value)),
                ));
            };
            Ok(Clause::Prefix {
                field,
                prefix: if case_insensitive {
                    prefix.to_lowercase()
                } else {
                    prefix.clone()
                },
                case_insensitive,
            })
        }),
        "wildcard" => field_clause(
            body,
            &at,
            &["value", "wildcard", "case_insensitive"],
            |field, v, at| {
                let key = match v {
                    Value::Object(p) if p.contains_key("wildcard") => "wildcard",
                    _ => "value",
                };
                let (value, params) = value_and_params(v, key, at)?;
                let case_insensitive =
                    params.map_or(Ok(false), |p| flag(p, "case_insensitive", at))?;
                let Value::String(pattern) = value else {
                    return Err(problem(
                        at,
                        format!("expected a string pattern, found {}", excerpt(value)),
                    ));
                };
                let pattern = if case_insensitive {
                    pattern.to_lowercase()
                } else {
                    pattern.clone()
                };
                Ok(Clause::Wildcard {
                    field,
                    pattern: glob(&pattern),
                    case_insensitive,
                })
            },
        ),
        "range" => field_clause(body, &at, &[], |field, v, at| {
            let params = object(v, at, "range bounds such as {\"gte\": 10}")?;
            only(params, &["gt", "gte", "lt", "lte"], at)?;
            let bound = |key: &str| -> Result<Option<Bound>, Error> {
                params
                    .get(key)
                    .map(|b| Bound::parse(b, &format!("{at}.{key}")))
                    .transpose()
            };
            let lower = match (bound("gt")?, bound("gte")?) {
                (Some(_), Some(_)) => return Err(problem(at, "both gt and gte given; keep one")),
                (Some(b), None) => Some((b, false)),
                (None, b) => b.map(|b| (b, true)),
            };
            let upper = match (bound("lt")?, bound("lte")?) {
                (Some(_), Some(_)) => return Err(problem(at, "both lt and lte given; keep one")),
                (Some(b), None) => Some((b, false)),
                (None, b) => b.map(|b| (b, true)),
            };
            Ok(Clause::Range {
                field,
                lower,
                upper,
            })
        }),
        "exists" => {
            let params = object(body, &at, "{\"field\": \"<name>\"}")?;
            only(params, &["field"], &at)?;
            let field = match params.get("field") {
                Some(Value::String(f)) => Field::parse(f, &at)?,
                _ => return Err(problem(&at, "expected {\"field\": \"<name>\"}")),
            };
            Ok(Clause::Exists { field })
        }
        "bool" => bool_clause(body, &at),
        other => Err(problem(
            &at,
            format!(
                "query clause `{other}` is not supported for local files in debug mode \
                 (supported: {SUPPORTED_CLAUSES}); rewrite the filter with those, or run against \
                 the indexer"
            ),
        )),
    }
}

/// A field-level clause (`{"term": {"<field>": <value or params>}}`) with the allowed
/// parameter names of its long form.
fn field_clause(
    body: &Value,
    at: &str,
    allowed: &[&str],
    build: impl FnOnce(Field, &Value, &str) -> Result<Clause, Error>,
) -> Result<Clause, Error> {
    let map = object(body, at, "{\"<field>\": <value>}")?;
    let mut fields = map
        .iter()
        .filter(|(k, _)| !SCORING_PARAMS.contains(&k.as_str()));
    let (name, v) = match (fields.next(), fields.next()) {
        (Some(entry), None) => entry,
        (None, _) => return Err(problem(at, "names no field")),
        (Some(_), Some(_)) => return Err(problem(at, "names more than one field; use bool.must")),
    };
    let at = format!("{at}.{name}");
    // Clauses without a long form (`terms`, `range`) check their own parameters.
    if let (Value::Object(params), false) = (v, allowed.is_empty()) {
        only(params, allowed, &at)?;
    }
    build(Field::parse(name, &at)?, v, &at)
}

/// The value of a short form (`"x"`) or of the `key` parameter of a long form
/// (`{"value": "x", ...}`), with the long form's parameters.
fn value_and_params<'a>(
    v: &'a Value,
    key: &str,
    at: &str,
) -> Result<(&'a Value, Option<&'a Params>), Error> {
    match v {
        Value::Object(params) => params
            .get(key)
            .map(|value| (value, Some(params)))
            .ok_or_else(|| problem(at, format!("the long form needs `{key}`"))),
        other => Ok((other, None)),
    }
}

fn bool_clause(body: &Value, at: &str) -> Result<Clause, Error> {
    let params = object(body, at, "{\"must\": [...], \"should\": [...], ...}")?;
    only(
        params,
        &[
            "must",
            "filter",
            "should",
            "must_not",
            "minimum_should_match",
        ],
        at,
    )?;
    let list = |key: &str| -> Result<Vec<Clause>, Error> {
        let at = format!("{at}.{key}");
        match params.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| clause(item, &format!("{at}[{i}]")))
                .collect(),
            Some(one) => Ok(vec![clause(one, &at)?]),
        }
    };
    let mut must = list("must")?;
    must.extend(list("filter")?);
    let must_not = list("must_not")?;
    let should = list("should")?;
    // OpenSearch: at least one `should` must match when there is no must/filter clause.
    let default = usize::from(must.is_empty() && !should.is_empty());
    let minimum_should_match = match params.get("minimum_should_match") {
        None => default,
        Some(v) => minimum_should_match(v, should.len(), &format!("{at}.minimum_should_match"))?,
    };
    Ok(Clause::Bool {
        must,
        must_not,
        should,
        minimum_should_match,
    })
}

/// `2`, `-1`, `"75%"`, `"-25%"` → how many `should` clauses must match (OpenSearch's rules:
/// percentages round down, negatives count the clauses that may be missing).
fn minimum_should_match(v: &Value, should: usize, at: &str) -> Result<usize, Error> {
    let refuse = || {
        problem(
            at,
            format!(
                "expected an integer or a percentage such as \"75%\" (combinations like \"3<90%\" are not supported for local files), found {}",
                excerpt(v)
            ),
        )
    };
    let n = should as i64;
    let wanted = match v {
        Value::Number(k) => k.as_i64().ok_or_else(refuse)?,
        Value::String(s) => match s.trim().strip_suffix('%') {
            Some(p) => {
                let p = p
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| refuse())?
                    .clamp(-100, 100);
                if p < 0 {
                    n - n * -p / 100
                } else {
                    n * p / 100
                }
            }
            None => s.trim().parse().map_err(|_| refuse())?,
        },
        _ => return Err(refuse()),
    };
    let wanted = if wanted < 0 {
        n.saturating_add(wanted)
    } else {
        wanted
    };
    // More than there are: nothing can match (as on the indexer).
    Ok(usize::try_from(wanted.max(0)).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn alert(v: Value) -> Alert {
        match v {
            Value::Object(map) => map,
            _ => panic!("test alert must be an object"),
        }
    }

    /// Three Wazuh-shaped alerts; `filter` must select exactly the ones at `expected`.
    fn check(filter: Value, expected: &[usize]) {
        let alerts = [
            alert(json!({
                "timestamp": "2024-05-01T10:00:00.000+0000",
                "rule": {"level": 5, "id": "5710", "groups": ["syslog", "sshd", "authentication_failed"]},
                "agent": {"id": "001", "name": "web-01"},
                "data": {"srcip": "10.0.0.1", "cpu_usage_%": "55.5"},
                "full_log": "Failed password for invalid user admin",
            })),
            alert(json!({
                "timestamp": "2024-05-01T10:05:00.000+0000",
                "rule": {"level": 10, "id": "60122", "groups": ["windows", "win_authentication_failed"]},
                "agent": {"id": "002", "name": "DC-01"},
                "data": {"win": {"system": {"eventID": "4625"}}, "cpu_usage_%": "9"},
                "syscheck": {"changes": [{"path": "/etc/passwd"}, {"path": "/etc/shadow"}]},
            })),
            alert(json!({
                "timestamp": "2024-05-01T10:10:00.000+0000",
                "rule.level": 3,
                "rule": {"id": "5501", "groups": ["pam", "syslog", "authentication_success"], "mail": false},
                "agent": {"id": "001", "name": "web-01"},
                "data": null,
            })),
        ];
        let compiled = AlertFilter::parse(&filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let got: Vec<usize> = (0..alerts.len())
            .filter(|&i| compiled.matches(&alerts[i]))
            .collect();
        assert_eq!(got, expected, "{filter}");
    }

    /// `filter` is refused; the message contains each of `parts`.
    fn refused(filter: Value, parts: &[&str]) {
        let err = AlertFilter::parse(&filter).expect_err("refused");
        let text = err.to_string();
        for part in parts {
            assert!(text.contains(part), "{filter}: {text} lacks {part:?}");
        }
    }

    #[test]
    fn term() {
        check(json!({"term": {"rule.groups": "sshd"}}), &[0]);
        check(json!({"term": {"agent.name": "web-01"}}), &[0, 2]);
        check(json!({"term": {"agent.name": "dc-01"}}), &[]);
        check(
            json!({"term": {"agent.name": {"value": "dc-01", "case_insensitive": true}}}),
            &[1],
        );
        // A number field takes a numeric string, a keyword field a number's JSON text; the
        // flattened key `rule.level` is found too.
        check(json!({"term": {"rule.level": 10}}), &[1]);
        check(json!({"term": {"rule.level": "5"}}), &[0]);
        check(json!({"term": {"data.cpu_usage_%": 9}}), &[1]);
        check(json!({"term": {"data.cpu_usage_%": 55.5}}), &[0]);
        check(json!({"term": {"data.cpu_usage_%": 9.0}}), &[]);
        check(json!({"term": {"rule.level": 3}}), &[2]);
        check(json!({"term": {"rule.mail": false}}), &[2]);
        check(json!({"term": {"rule.mail": "false"}}), &[2]);
        // Arrays of objects are flattened, as the indexer indexes them.
        check(
            json!({"term": {"syscheck.changes.path": "/etc/shadow"}}),
            &[1],
        );
        // A trailing .keyword reads the field itself.
        check(json!({"term": {"agent.id.keyword": "001"}}), &[0, 2]);
        check(
            json!({"term": {"agent.id": {"value": "002", "boost": 2.0}}}),
            &[1],
        );
    }

    #[test]
    fn terms() {
        check(
            json!({"terms": {"rule.groups": ["sshd", "windows"]}}),
            &[0, 1],
        );
        check(
            json!({"terms": {"rule.id": ["5501", 60122], "boost": 1.0}}),
            &[1, 2],
        );
        check(json!({"terms": {"rule.id": []}}), &[]);
        refused(
            json!({"terms": {"rule.id": {"index": "x", "id": "1", "path": "ids"}}}),
            &["alert_filter.terms.rule.id", "terms-lookup"],
        );
    }

    #[test]
    fn match_and_match_phrase_compare_whole_values() {
        check(json!({"match": {"rule.groups": "sshd"}}), &[0]);
        check(
            json!({"match": {"agent.name": {"query": "web-01"}}}),
            &[0, 2],
        );
        // One word of a text field does not match locally (it would on the indexer).
        check(json!({"match": {"full_log": "password"}}), &[]);
        check(
            json!({"match_phrase": {"full_log": "Failed password for invalid user admin"}}),
            &[0],
        );
        refused(
            json!({"match": {"full_log": {"query": "x", "fuzziness": "AUTO"}}}),
            &["alert_filter.match.full_log.fuzziness", "not supported"],
        );
    }

    #[test]
    fn range() {
        check(json!({"range": {"rule.level": {"gte": 5}}}), &[0, 1]);
        check(json!({"range": {"rule.level": {"gt": 5, "lte": 10}}}), &[1]);
        check(json!({"range": {"rule.level": {"lt": 5}}}), &[2]);
        // Timestamps compare as instants across zone spellings.
        check(
            json!({"range": {"timestamp": {"gt": "2024-05-01T10:00:00Z", "lte": "2024-05-01T12:05:00+02:00"}}}),
            &[1],
        );
        check(
            json!({"range": {"timestamp": {"gte": 1_714_557_900_000_i64}}}),
            &[1, 2],
        );
        // String values compare in byte order, as on a keyword field, whatever the bound.
        check(
            json!({"range": {"data.cpu_usage_%": {"gte": "50"}}}),
            &[0, 1],
        );
        check(json!({"range": {"data.cpu_usage_%": {"gte": 50}}}), &[0, 1]);
        check(json!({"range": {"data.cpu_usage_%": {"lt": 50}}}), &[]);
        check(
            json!({"range": {"rule.id": {"gte": "5500", "lt": "6"}}}),
            &[0, 2],
        );
    }

    #[test]
    fn range_refuses_what_it_cannot_evaluate() {
        refused(
            json!({"range": {"timestamp": {"gte": "now-1d"}}}),
            &["alert_filter.range.timestamp.gte", "date math"],
        );
        refused(
            json!({"range": {"timestamp": {"gte": "2024-05-01"}}}),
            &["not a full timestamp", "2024-05-01T00:00:00Z"],
        );
        refused(
            json!({"range": {"timestamp": {"gte": "2024-05-01T00:00:00Z", "time_zone": "+01:00"}}}),
            &["alert_filter.range.timestamp.time_zone"],
        );
        refused(
            json!({"range": {"rule.level": {"gt": 1, "gte": 2}}}),
            &["both gt and gte"],
        );
    }

    #[test]
    fn exists() {
        check(json!({"exists": {"field": "data.srcip"}}), &[0]);
        // An object exists when it holds a value; null does not.
        check(json!({"exists": {"field": "data"}}), &[0, 1]);
        check(json!({"exists": {"field": "rule.level"}}), &[0, 1, 2]);
        check(json!({"exists": {"field": "nope"}}), &[]);
    }

    #[test]
    fn prefix() {
        check(json!({"prefix": {"agent.name": "web"}}), &[0, 2]);
        check(json!({"prefix": {"agent.name": "dc"}}), &[]);
        check(
            json!({"prefix": {"agent.name": {"value": "dc", "case_insensitive": true}}}),
            &[1],
        );
        check(
            json!({"prefix": {"rule.groups": "authentication_"}}),
            &[0, 2],
        );
    }

    #[test]
    fn wildcard() {
        check(json!({"wildcard": {"agent.name": "w?b-*"}}), &[0, 2]);
        check(json!({"wildcard": {"agent.name": "*-0?"}}), &[0, 1, 2]);
        check(
            json!({"wildcard": {"agent.name": {"value": "D*1", "case_insensitive": false}}}),
            &[1],
        );
        check(
            json!({"wildcard": {"agent.name": {"wildcard": "WEB*", "case_insensitive": true}}}),
            &[0, 2],
        );
        check(json!({"wildcard": {"rule.groups": "*_failed"}}), &[0, 1]);
        check(json!({"wildcard": {"data.srcip": "10.0.0.\\*"}}), &[]);
        check(json!({"wildcard": {"data.srcip": "*"}}), &[0]);
    }

    #[test]
    fn glob_edge_cases() {
        let m = |p: &str, t: &str| glob_matches(&glob(p), &t.chars().collect::<Vec<_>>());
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(m("?é*", "xé"));
    }

    #[test]
    fn bool() {
        check(
            json!({"bool": {"must": {"term": {"agent.id": "001"}}, "must_not": [{"term": {"rule.id": "5501"}}]}}),
            &[0],
        );
        check(
            json!({"bool": {"filter": [{"term": {"agent.id": "001"}}, {"range": {"rule.level": {"lt": 4}}}]}}),
            &[2],
        );
        // should alone: at least one; next to must: optional unless minimum_should_match.
        check(
            json!({"bool": {"should": [{"term": {"agent.id": "002"}}, {"term": {"rule.id": "5501"}}]}}),
            &[1, 2],
        );
        check(
            json!({"bool": {"must": [{"term": {"agent.id": "001"}}], "should": [{"term": {"agent.id": "002"}}]}}),
            &[0, 2],
        );
        check(
            json!({"bool": {"must": [{"term": {"agent.id": "001"}}], "should": [{"term": {"rule.id": "5710"}}], "minimum_should_match": 1}}),
            &[0],
        );
        let two_of_three = json!([
            {"term": {"agent.id": "001"}},
            {"term": {"rule.groups": "syslog"}},
            {"term": {"rule.id": "5501"}},
        ]);
        check(
            json!({"bool": {"should": two_of_three.clone(), "minimum_should_match": 2}}),
            &[0, 2],
        );
        check(
            json!({"bool": {"should": two_of_three.clone(), "minimum_should_match": "100%"}}),
            &[2],
        );
        check(
            json!({"bool": {"should": two_of_three.clone(), "minimum_should_match": "-34%"}}),
            &[0, 2],
        );
        check(
            json!({"bool": {"should": two_of_three.clone(), "minimum_should_match": -2}}),
            &[0, 2],
        );
        check(
            json!({"bool": {"should": two_of_three.clone(), "minimum_should_match": 4}}),
            &[],
        );
        check(
            json!({"bool": {"should": two_of_three.clone(), "minimum_should_match": "250%"}}),
            &[2],
        );
        check(
            json!({"bool": {"should": two_of_three.clone(), "minimum_should_match": i64::MIN}}),
            &[0, 1, 2],
        );
        check(
            json!({"bool": {"should": two_of_three.clone(), "minimum_should_match": i64::MAX}}),
            &[],
        );
        check(json!({"bool": {}}), &[0, 1, 2]);
        check(
            json!({"bool": {"must_not": {"bool": {"should": [{"term": {"agent.id": "001"}}]}}}}),
            &[1],
        );
        refused(
            json!({"bool": {"should": [], "minimum_should_match": "3<90%"}}),
            &["alert_filter.bool.minimum_should_match", "3<90%"],
        );
    }

    #[test]
    fn match_all_and_match_none() {
        check(json!({"match_all": {}}), &[0, 1, 2]);
        check(json!({"match_all": {"boost": 1.2}}), &[0, 1, 2]);
        check(json!({"match_none": {}}), &[]);
    }

    #[test]
    fn unsupported_clauses_are_named_with_their_path() {
        refused(
            json!({"bool": {"must": [{"term": {"a": 1}}, {"query_string": {"query": "sshd"}}]}}),
            &[
                "alert_filter.bool.must[1].query_string",
                "`query_string` is not supported",
                "supported: term, terms",
            ],
        );
        refused(json!({"regexp": {"agent.name": "w.*"}}), &["`regexp`"]);
        refused(json!({"term": {"a": 1}, "range": {}}), &["one clause"]);
        refused(json!({}), &["empty query object"]);
        refused(json!([{"term": {"a": 1}}]), &["a query clause"]);
        refused(json!({"term": {"a": 1, "b": 2}}), &["more than one field"]);
        refused(json!({"term": {"a..b": 1}}), &["not a dotted field path"]);
        refused(
            json!({"term": {"a": null}}),
            &["expected a string, number or boolean"],
        );
        refused(
            json!({"bool": {"must": [], "adjust_pure_negative": true}}),
            &["alert_filter.bool.adjust_pure_negative"],
        );
    }
}
