//! sink (being written).
