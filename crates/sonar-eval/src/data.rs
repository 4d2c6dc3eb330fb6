//! Labelled series for evaluation and their CSV form.
//!
//! A CSV has a header; `,` or `;` separates fields (the header decides). The first column
//! holds row labels (kept only for display) when its header is a time or index name or its
//! first value is not a number. A column named `label`, `is_anomaly` or `anomaly` (any case)
//! is the ground truth and never a feature; `changepoint` (SKAB) is dropped too. Every other
//! column is a numeric feature; an empty field is a missing value. Rows stay in file order.

use std::path::Path;

use crate::Error;

/// Header names of the ground-truth column.
pub const LABEL_COLUMNS: [&str; 3] = ["label", "is_anomaly", "anomaly"];
/// Header names of label-like columns that are neither features nor the ground truth.
const IGNORED_COLUMNS: [&str; 1] = ["changepoint"];
/// Header names that mark the first column as row labels.
const INDEX_COLUMNS: [&str; 6] = ["", "timestamp", "time", "datetime", "date", "index"];

/// Rows of numeric features, optionally with a 0/1 label per row.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSeries {
    /// Feature names.
    pub columns: Vec<String>,
    /// `rows × columns` values, row-major; NaN = missing.
    pub values: Vec<f64>,
    /// Ground truth per row, when the data has it.
    pub labels: Option<Vec<bool>>,
}

impl LabelledSeries {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.values.len() / self.columns.len().max(1)
    }

    /// The last `n` rows (all when there are fewer).
    pub fn tail(&self, n: usize) -> LabelledSeries {
        let start = self.rows().saturating_sub(n);
        let k = self.columns.len();
        LabelledSeries {
            columns: self.columns.clone(),
            values: self.values[start * k..].to_vec(),
            labels: self.labels.as_ref().map(|l| l[start..].to_vec()),
        }
    }

    /// Parses CSV text (see the module doc); `origin` names the source in errors.
    pub fn from_csv(text: &str, origin: &Path) -> Result<Self, Error> {
        let bad = |problem: String| Error::EvalInput {
            path: origin.to_path_buf(),
            problem,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines
            .next()
            .ok_or_else(|| bad("empty file: expected a header line".into()))?;
        let sep = if header.contains(',') || !header.contains(';') {
            ','
        } else {
            ';'
        };
        let names: Vec<String> = header.split(sep).map(|s| s.trim().to_string()).collect();
        let lower: Vec<String> = names.iter().map(|s| s.to_lowercase()).collect();
        let label_col = lower
            .iter()
            .position(|n| LABEL_COLUMNS.contains(&n.as_str()));
        let rows: Vec<(usize, &str)> = lines.collect();
        let first_is_index = INDEX_COLUMNS.contains(&lower[0].as_str())
            || rows.first().is_some_and(|(_, l)| {
                let f = l.split(sep).next().unwrap_or_default().trim();
                !f.is_empty() && f.parse::<f64>().is_err()
            });
        let features: Vec<usize> = (0..names.len())
            .filter(|&j| {
                !(j == 0 && first_is_index)
                    && Some(j) != label_col
                    && !IGNORED_COLUMNS.contains(&lower[j].as_str())
            })
            .collect();
        if features.is_empty() {
            return Err(bad("no feature column (only row labels and labels)".into()));
        }
        let mut values = Vec::with_capacity(rows.len() * features.len());
        let mut labels = Vec::with_capacity(rows.len());
        for (line_no, line) in rows {
            let fields: Vec<&str> = line.split(sep).map(str::trim).collect();
            if fields.len() != names.len() {
                return Err(bad(format!(
                    "line {}: {} fields for {} columns",
                    line_no + 1,
                    fields.len(),
                    names.len()
                )));
            }
            let number = |j: usize| -> Result<f64, Error> {
                let f = fields[j];
                if f.is_empty() {
                    return Ok(f64::NAN);
                }
                match f.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    _ => Err(bad(format!(
                        "line {}: `{f}` in column `{}` is not a finite number",
                        line_no + 1,
                        names[j]
                    ))),
                }
            };
            for &j in &features {
                values.push(number(j)?);
            }
            if let Some(j) = label_col {
                labels.push(number(j)? > 0.0);
            }
        }
        Ok(Self {
            columns: features.iter().map(|&j| names[j].clone()).collect(),
            values,
            labels: label_col.map(|_| labels),
        })
    }

    /// Reads a CSV file (see the module doc).
    pub fn read(path: &Path) -> Result<Self, Error> {
        Self::from_csv(&read_text(path)?, path)
    }
}

/// Reads labels from a one-column CSV (header `label`, `is_anomaly` or `anomaly`).
pub fn read_labels(path: &Path) -> Result<Vec<bool>, Error> {
    labels_from_csv(&read_text(path)?, path)
}

/// Parses labels from one-column CSV text: a header, then a number per row (> 0 = anomalous).
pub fn labels_from_csv(text: &str, origin: &Path) -> Result<Vec<bool>, Error> {
    let values = column_from_csv(text, origin, "a 0/1 label")?;
    Ok(values.into_iter().map(|v| v > 0.0).collect())
}

/// Reads one score per row from a one-column CSV (a header, then a number per row; higher =
/// more anomalous): the scores of another scorer, e.g. the Python reference.
pub fn read_scores(path: &Path) -> Result<Vec<f64>, Error> {
    column_from_csv(&read_text(path)?, path, "a score")
}

fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))
}

/// The numbers of a one-column CSV after its header; `what` names a value in errors.
fn column_from_csv(text: &str, origin: &Path, what: &str) -> Result<Vec<f64>, Error> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    lines.next();
    lines
        .map(|(i, l)| {
            l.trim().parse::<f64>().map_err(|_| Error::EvalInput {
                path: origin.to_path_buf(),
                problem: format!("line {}: `{}` is not {what}", i + 1, l.trim()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, columns: &[&str], values: &[f64], labels: Option<&[bool]>) {
        let s = LabelledSeries::from_csv(text, Path::new("t.csv")).expect("parses");
        assert_eq!(s.columns, columns);
        assert_eq!(s.labels.as_deref(), labels);
        assert_eq!(s.values.len(), values.len());
        for (g, w) in s.values.iter().zip(values) {
            assert!(g == w || (g.is_nan() && w.is_nan()), "{:?}", s.values);
        }
    }

    #[test]
    fn parses_the_data_sets_shapes() {
        // SMD-like: no index, no label.
        check(
            "m0,m1\n1,2\n3,\n",
            &["m0", "m1"],
            &[1.0, 2.0, 3.0, f64::NAN],
            None,
        );
        // SKAB-like: `;`, a datetime index, anomaly and changepoint columns.
        check(
            "datetime;a;b;anomaly;changepoint\n2020-03-09 10:14:33;1;2;0.0;0.0\n2020-03-09 10:14:34;3;4;1.0;1.0\n",
            &["a", "b"],
            &[1.0, 2.0, 3.0, 4.0],
            Some(&[false, true]),
        );
        // An unnamed first column with text labels is the index; `Label` is the truth.
        check(
            "ts,x,Label\nr1,5,1\nr2,6,0\n",
            &["x"],
            &[5.0, 6.0],
            Some(&[true, false]),
        );
    }

    #[test]
    fn rejects_bad_rows() {
        let err = |text: &str| {
            LabelledSeries::from_csv(text, Path::new("t.csv"))
                .expect_err("must fail")
                .to_string()
        };
        assert!(err("a,b\n1,2,3\n").contains("line 2: 3 fields"));
        assert!(err("a,b\n1,x\n").contains("`x` in column `b`"));
        assert!(err("label\n1\n").contains("no feature column"));
        assert!(err("").contains("empty file"));
        assert_eq!(
            labels_from_csv("label\n0\n1\n0.0\n", Path::new("l.csv")).expect("parses"),
            vec![false, true, false]
        );
        assert!(labels_from_csv("label\nyes\n", Path::new("l.csv")).is_err());
        let err = column_from_csv("score\n0.5\nx\n", Path::new("s.csv"), "a score")
            .expect_err("not a number");
        assert!(
            err.to_string().contains("line 3: `x` is not a score"),
            "{err}"
        );
    }
}
