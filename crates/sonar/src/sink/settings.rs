//! Where anomaly documents go besides the plain index: the `shipping:` section (declared in
//! `config/keys.rs`).

/// `shipping.*`, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct ShippingSettings {
    /// Ship to a data stream: (`shipping.enabled` or `--ship`) and not debug mode.
    pub enabled: bool,
    /// Install templates at training time.
    pub install_templates: bool,
    /// Stream id: `sonar_anomalies_<scenario_id>`.
    pub scenario_id: String,
}
