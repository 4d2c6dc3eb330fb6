//! The engine's input: a numeric frame of rows (time steps) and named columns (variables).

use crate::error::{MvadError, Result};

/// Rows of numbers under named columns, each row labelled (a timestamp string or any label
/// that sorts in time order). Values are row-major; NaN marks a missing value.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    index: Vec<String>,
    columns: Vec<String>,
    values: Vec<f64>,
}

impl Frame {
    /// Builds a frame; `values` holds `index.len() × columns.len()` numbers, row-major.
    pub fn new(index: Vec<String>, columns: Vec<String>, values: Vec<f64>) -> Result<Self> {
        if columns.is_empty() {
            return Err(MvadError::InvalidData("the frame has no columns".into()));
        }
        if values.len() != index.len() * columns.len() {
            return Err(MvadError::InvalidData(format!(
                "{} values for {} rows × {} columns",
                values.len(),
                index.len(),
                columns.len()
            )));
        }
        let mut sorted: Vec<&String> = columns.iter().collect();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(MvadError::InvalidData(format!(
                "column `{}` appears twice",
                w[0]
            )));
        }
        if let Some(pos) = values.iter().position(|v| v.is_infinite()) {
            return Err(MvadError::InvalidData(format!(
                "infinite value in row {} (`{}`), column `{}`",
                pos / columns.len(),
                index[pos / columns.len()],
                columns[pos % columns.len()]
            )));
        }
        Ok(Self {
            index,
            columns,
            values,
        })
    }

    /// Parses CSV text whose first column holds the row labels and whose header names the
    /// columns; an empty field is a missing value. (The golden fixtures' format.)
    pub fn from_csv(text: &str) -> Result<Self> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .ok_or_else(|| MvadError::InvalidData("empty CSV".into()))?;
        let columns: Vec<String> = header
            .split(',')
            .skip(1)
            .map(|s| s.trim().to_string())
            .collect();
        let mut index = Vec::new();
        let mut values = Vec::new();
        for (i, line) in lines.enumerate() {
            let mut fields = line.split(',');
            index.push(fields.next().unwrap_or_default().trim().to_string());
            let mut count = 0;
            for (j, f) in fields.enumerate() {
                let f = f.trim();
                let v = if f.is_empty() {
                    f64::NAN
                } else {
                    f.parse::<f64>().map_err(|_| {
                        MvadError::InvalidData(format!(
                            "CSV line {}: `{f}` in column `{}` is not a number",
                            i + 2,
                            columns.get(j).map(String::as_str).unwrap_or("?")
                        ))
                    })?
                };
                values.push(v);
                count += 1;
            }
            if count != columns.len() {
                return Err(MvadError::InvalidData(format!(
                    "CSV line {}: {count} values for {} columns",
                    i + 2,
                    columns.len()
                )));
            }
        }
        Self::new(index, columns, values)
    }

    /// Row labels.
    pub fn index(&self) -> &[String] {
        &self.index
    }

    /// Column names, in the frame's order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.index.len()
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    /// The value at `row`, `col`.
    pub fn value(&self, row: usize, col: usize) -> f64 {
        self.values[row * self.columns.len() + col]
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The last `n` rows (all rows if there are fewer).
    pub fn tail(&self, n: usize) -> Frame {
        let start = self.n_rows().saturating_sub(n);
        let k = self.n_cols();
        Frame {
            index: self.index[start..].to_vec(),
            columns: self.columns.clone(),
            values: self.values[start * k..].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_parses_missing_values_and_checks_shape() {
        let f = Frame::from_csv("timestamp,b,a\nt0,1,\nt1,2.5,3\n").expect("valid csv");
        assert_eq!(f.columns(), ["b", "a"]);
        assert_eq!(f.index(), ["t0", "t1"]);
        assert!(f.value(0, 1).is_nan());
        assert_eq!(f.value(1, 0), 2.5);
        assert!(Frame::from_csv("t,a\nx,1,2\n").is_err());
        assert!(Frame::from_csv("t,a\nx,abc\n")
            .expect_err("bad")
            .to_string()
            .contains("`abc`"));
        assert!(Frame::new(vec![], vec!["a".into(), "a".into()], vec![]).is_err());
    }
}
