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

impl Numeric {
    /// The number, when the value was a usable one.
    pub fn usable(self) -> Option<f64> {
        match self {
            Numeric::Value(x) => Some(x),
            _ => None,
        }
    }
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
        Some(Value::String(s)) => match plain_decimal(s) {
            Some(x) => x,
            None => {
                let s = s.trim();
                if s.is_empty() {
                    return Numeric::Absent;
                }
                match s.parse::<f64>() {
                    Ok(x) => x,
                    Err(_) => return Numeric::NotNumeric,
                }
            }
        },
        Some(Value::Array(_) | Value::Object(_)) => return Numeric::NotNumeric,
    };
    if x.is_finite() && x.abs() <= MAX_MAGNITUDE {
        Numeric::Value(x)
    } else {
        Numeric::NonFinite
    }
}

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common numeric string (`6.2`, `-17`, `0.45`: an optional `-`, digits, optionally `.`
/// and digits, nothing else) read exactly as `str::parse::<f64>` reads it, without its general
/// machinery; `None` for anything else, which then takes the general path.
///
/// Exact by Clinger's fast path: with at most 2^53 as the digits read as an integer and at most
/// 22 digits after the point, both the integer and the power of ten are exact `f64`s, and one
/// IEEE division rounds their quotient correctly, as `parse` does.
fn plain_decimal(s: &str) -> Option<f64> {
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        bytes => (false, bytes),
    };
    let mut mantissa: u64 = 0;
    let mut seen = 0usize;
    let mut point: Option<usize> = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                // 19 digits always fit in a u64; longer strings take the general path.
                seen += 1;
                if seen > 19 {
                    return None;
                }
                mantissa = mantissa * 10 + u64::from(c - b'0');
            }
            b'.' if point.is_none() && i > 0 => point = Some(i),
            _ => return None,
        }
    }
    let decimals = match point {
        Some(at) if at + 1 == digits.len() => return None,
        Some(at) => digits.len() - at - 1,
        None if digits.is_empty() => return None,
        None => 0,
    };
    if mantissa > 1 << 53 || decimals >= EXACT_POWERS_OF_TEN.len() {
        return None;
    }
    let x = mantissa as f64 / EXACT_POWERS_OF_TEN[decimals];
    Some(if negative { -x } else { x })
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

    #[test]
    fn plain_decimals_read_as_parse_reads_them() {
        let cases = [
            "0",
            "-0",
            "7",
            "-17",
            "6.2",
            "0.45",
            "95.0",
            "007.50",
            "-0.000",
            "0.1",
            "0.3",
            "123456789.123456789",
            "9007199254740992",
            "9007199254740993",
            "4.35",
            "1234567890123456789",
            "12345678901234567890",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "1.",
            ".5",
            "-",
            "",
            "1.2.3",
            "1e3",
            "+5",
            " 7",
            "7 ",
            "--1",
            "1-",
            "١",
        ];
        for case in cases {
            if let Some(x) = plain_decimal(case) {
                let parsed: f64 = case.parse().expect("a plain decimal parses");
                assert_eq!(x.to_bits(), parsed.to_bits(), "{case}");
            }
            assert_eq!(
                numeric(Some(&json!(case))),
                match case.trim() {
                    "" => Numeric::Absent,
                    t => t.parse::<f64>().map_or(Numeric::NotNumeric, |x| {
                        if x.is_finite() && x.abs() <= MAX_MAGNITUDE {
                            Numeric::Value(x)
                        } else {
                            Numeric::NonFinite
                        }
                    }),
                },
                "{case}"
            );
        }
        assert_eq!(plain_decimal("6.2"), Some(6.2));
        assert_eq!(plain_decimal("9007199254740993"), None, "above 2^53");
        assert_eq!(plain_decimal("1e3"), None);
    }

    proptest::proptest! {
        #[test]
        fn plain_decimals_agree_with_parse(text in "-?[0-9]{1,21}(\\.[0-9]{0,25})?") {
            if let Some(x) = plain_decimal(&text) {
                let parsed: f64 = text.parse().expect("a plain decimal parses");
                proptest::prop_assert_eq!(x.to_bits(), parsed.to_bits(), "{}", text);
            }
        }
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
