//! Reading alert values as numbers and as categories, robust to Wazuh's odd types (numbers as
//! strings, lists, nested objects).

use serde_json::Value;

/// Magnitudes above this are treated like non-finite values: a bucket sums at most 2^32 of
/// them, so sums and means stay finite.
pub const MAX_MAGNITUDE: f64 = 1e290;

/// What a numeric field held in one alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Numeric {
    /// Absent, `null` or an empty string: the alert does not count towards the mean.
    Absent,
    /// A usable number (from a number, a boolean or a numeric string).
    Value(f64),
    /// A numeric string that is NaN or infinite (or beyond ±[`MAX_MAGNITUDE`]): ignored, counted.
    NonFinite,
    /// Anything else (text, list, object): ignored, counted.
    NotNumeric,
}

/// Reads a value as a number: numbers, booleans (1/0) and numeric strings such as `"6.2"`.
pub fn numeric(value: Option<&Value>) -> Numeric {
    let x = match value {
        None | Some(Value::Null) => return Numeric::Absent,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) => x,
            None => return Numeric::NotNumeric,
        },
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Numeric::Absent;
            }
            match s.parse::<f64>() {
                Ok(x) => x,
                Err(_) => return Numeric::NotNumeric,
            }
        }
        Some(Value::Array(_) | Value::Object(_)) => return Numeric::NotNumeric,
    };
    if x.is_finite() && x.abs() <= MAX_MAGNITUDE {
        Numeric::Value(x)
    } else {
        Numeric::NonFinite
    }
}

/// Calls `each` with every category a categorical field holds in one alert: a string as is,
/// numbers and booleans in their JSON text, each non-null element of a list (so lists are
/// multi-hot), objects and nested lists as compact JSON. `null`, absent values and empty
/// strings give no category. `scratch` is reused to avoid allocating for numbers.
pub fn categories(value: Option<&Value>, scratch: &mut String, each: &mut dyn FnMut(&str)) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                if !matches!(item, Value::Null | Value::Array(_)) {
                    one_category(item, scratch, each);
                } else if let Value::Array(_) = item {
                    let text = item.to_string();
                    each(&text);
                }
            }
        }
        Some(v) => one_category(v, scratch, each),
    }
}

fn one_category(value: &Value, scratch: &mut String, each: &mut dyn FnMut(&str)) {
    use std::fmt::Write;
    match value {
        Value::String(s) if s.is_empty() => {}
        Value::String(s) => each(s),
        Value::Number(n) => {
            scratch.clear();
            // Writing into a String cannot fail.
            let _ = write!(scratch, "{n}");
            each(scratch);
        }
        Value::Bool(b) => each(if *b { "true" } else { "false" }),
        other => each(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_numeric(value: Option<Value>, expected: Numeric) {
        assert_eq!(numeric(value.as_ref()), expected, "{value:?}");
    }

    #[test]
    fn numeric_rules() {
        use Numeric::*;
        check_numeric(None, Absent);
        check_numeric(Some(json!(null)), Absent);
        check_numeric(Some(json!("")), Absent);
        check_numeric(Some(json!(5)), Value(5.0));
        check_numeric(Some(json!(-2.5)), Value(-2.5));
        check_numeric(Some(json!("6.2")), Value(6.2));
        check_numeric(Some(json!(" 7 ")), Value(7.0));
        check_numeric(Some(json!("1e3")), Value(1000.0));
        check_numeric(Some(json!(true)), Value(1.0));
        check_numeric(Some(json!(false)), Value(0.0));
        check_numeric(Some(json!("NaN")), NonFinite);
        check_numeric(Some(json!("inf")), NonFinite);
        check_numeric(Some(json!("-infinity")), NonFinite);
        check_numeric(Some(json!(1e300)), NonFinite);
        check_numeric(Some(json!("high")), NotNumeric);
        check_numeric(Some(json!("10.0.0.1")), NotNumeric);
        check_numeric(Some(json!([1])), NotNumeric);
        check_numeric(Some(json!({"a": 1})), NotNumeric);
    }

    fn check_categories(value: Option<Value>, expected: &[&str]) {
        let mut got = Vec::new();
        categories(value.as_ref(), &mut String::new(), &mut |c| {
            got.push(c.to_owned())
        });
        assert_eq!(got, expected, "{value:?}");
    }

    #[test]
    fn category_rules() {
        check_categories(None, &[]);
        check_categories(Some(json!(null)), &[]);
        check_categories(Some(json!("")), &[]);
        check_categories(Some(json!("5710")), &["5710"]);
        check_categories(Some(json!(5710)), &["5710"]);
        check_categories(Some(json!(1.5)), &["1.5"]);
        check_categories(Some(json!(true)), &["true"]);
        check_categories(Some(json!("a|b")), &["a|b"]);
        check_categories(
            Some(json!(["ssh", null, "", 3, ["x"]])),
            &["ssh", "3", "[\"x\"]"],
        );
        check_categories(Some(json!({"k": 1})), &["{\"k\":1}"]);
    }
}
