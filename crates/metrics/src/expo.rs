//! The exposition: metric families built from values read at scrape time, encoded in the
//! Prometheus text format (version 0.0.4) by the `prometheus` crate's encoder.
//!
//! Every family has HELP and TYPE lines; a counter's name ends in `_total`; names and label
//! names follow the data model's grammar; a family is declared once and each of its samples
//! has a label set of its own. Families with no sample are left out (the text format has no
//! way to say "no series"). The values come in as plain numbers: the owners of the counters
//! keep them (monotonic for the life of the process, across reloads), the exposition only
//! reads them.

use std::collections::HashSet;

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// Why an exposition could not be rendered (a programming error in the caller: names are
/// constants of the code, never taken from the network).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpoError {
    /// A metric name outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("metric name {0:?} is not valid")]
    BadName(String),
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`, or one starting with `__` (reserved).
    #[error("label name {label:?} of {metric} is not valid")]
    BadLabel {
        /// The family.
        metric: String,
        /// The label name.
        label: String,
    },
    /// A counter whose name does not end in `_total`.
    #[error("counter {0:?} does not end in _total")]
    CounterName(String),
    /// A family declared twice.
    #[error("metric {0:?} declared twice")]
    Duplicate(String),
    /// A family with no HELP text.
    #[error("metric {0:?} has no HELP text")]
    NoHelp(String),
    /// Two samples of one family with the same label set.
    #[error("metric {0:?} has two samples with the same labels")]
    SameLabels(String),
    /// The encoder refused a family.
    #[error("encoding: {0}")]
    Encode(String),
}

/// The families of one scrape, in the order they were declared.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<MetricFamily>,
    names: HashSet<String>,
    error: Option<ExpoError>,
}

/// One family being filled (see [`Exposition::counter`] and [`Exposition::gauge`]).
#[derive(Debug)]
pub struct Family<'a> {
    mf: &'a mut MetricFamily,
    error: &'a mut Option<ExpoError>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Declares a counter (monotonic; its name ends in `_total`).
    pub fn counter(&mut self, name: &str, help: &str) -> Family<'_> {
        if !name.ends_with("_total") {
            self.fail(ExpoError::CounterName(name.to_owned()));
        }
        self.family(name, help, MetricType::COUNTER)
    }

    /// Declares a gauge (a value that goes up and down).
    pub fn gauge(&mut self, name: &str, help: &str) -> Family<'_> {
        self.family(name, help, MetricType::GAUGE)
    }

    /// Declares a counter with one sample per `(value of label, count)`.
    pub fn counter_by(&mut self, name: &str, help: &str, label: &str, values: &[(&str, u64)]) {
        let mut f = self.counter(name, help);
        for (v, n) in values {
            f.sample(&[(label, v)], num(*n));
        }
    }

    fn fail(&mut self, e: ExpoError) {
        self.error.get_or_insert(e);
    }

    fn family(&mut self, name: &str, help: &str, kind: MetricType) -> Family<'_> {
        if !valid_name(name) {
            self.fail(ExpoError::BadName(name.to_owned()));
        }
        if help.trim().is_empty() {
            self.fail(ExpoError::NoHelp(name.to_owned()));
        }
        if !self.names.insert(name.to_owned()) {
            self.fail(ExpoError::Duplicate(name.to_owned()));
        }
        let mut mf = MetricFamily::default();
        mf.set_name(name.to_owned());
        mf.set_help(help.to_owned());
        mf.set_field_type(kind);
        self.families.push(mf);
        let last = self.families.len() - 1;
        Family {
            mf: &mut self.families[last],
            error: &mut self.error,
        }
    }

    /// Families declared so far.
    pub fn len(&self) -> usize {
        self.families.len()
    }

    /// True when no family was declared.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// The text format (version 0.0.4), families in declaration order; the first problem
    /// met while building, if any.
    pub fn render(self) -> Result<String, ExpoError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let kept: Vec<MetricFamily> = self
            .families
            .into_iter()
            .filter(|f| !f.get_metric().is_empty())
            .collect();
        prometheus::TextEncoder::new()
            .encode_to_string(&kept)
            .map_err(|e| ExpoError::Encode(e.to_string()))
    }
}

impl Family<'_> {
    /// Adds the sample with `labels` (name, value pairs; values are escaped by the encoder).
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let name = self.mf.name().to_owned();
        let mut pairs = Vec::with_capacity(labels.len());
        for (k, v) in labels {
            if !valid_label(k) {
                self.error.get_or_insert(ExpoError::BadLabel {
                    metric: name.clone(),
                    label: (*k).to_owned(),
                });
            }
            let mut p = LabelPair::default();
            p.set_name((*k).to_owned());
            p.set_value((*v).to_owned());
            pairs.push(p);
        }
        let same = |m: &Metric| {
            m.get_label().len() == pairs.len()
                && m.get_label()
                    .iter()
                    .zip(&pairs)
                    .all(|(a, b)| a.name() == b.name() && a.value() == b.value())
        };
        if self.mf.get_metric().iter().any(same) {
            self.error.get_or_insert(ExpoError::SameLabels(name));
        }
        let mut m = Metric::from_label(pairs);
        match self.mf.get_field_type() {
            MetricType::COUNTER => {
                let mut c = Counter::default();
                c.set_value(value);
                m.set_counter(c);
            }
            _ => {
                let mut g = Gauge::default();
                g.set_value(value);
                m.set_gauge(g);
            }
        }
        self.mf.mut_metric().push(m);
        self
    }

    /// Adds the one sample of a family without labels.
    pub fn value(&mut self, value: f64) -> &mut Self {
        self.sample(&[], value)
    }
}

/// `n` as a sample value (exact up to 2^53, which no counter here reaches).
pub fn num(n: u64) -> f64 {
    n as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_type_and_its_samples() {
        let mut e = Exposition::new();
        e.counter("ferrovox_x_total", "Things.")
            .sample(&[("kind", "a")], 3.0)
            .sample(&[("kind", "b")], 0.0);
        e.gauge("ferrovox_y", "A level.").value(1.5);
        let text = e.render().unwrap();
        let want = "# HELP ferrovox_x_total Things.\n# TYPE ferrovox_x_total counter\n\
                    ferrovox_x_total{kind=\"a\"} 3\nferrovox_x_total{kind=\"b\"} 0\n\
                    # HELP ferrovox_y A level.\n# TYPE ferrovox_y gauge\nferrovox_y 1.5\n";
        assert_eq!(text, want);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::new();
        e.gauge("ferrovox_member_up", "Up.")
            .sample(&[("member", "sip:a\"b\\c\nd")], 1.0);
        let text = e.render().unwrap();
        assert!(
            text.contains(r#"ferrovox_member_up{member="sip:a\"b\\c\nd"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_family_without_samples_is_left_out() {
        let mut e = Exposition::new();
        e.gauge("ferrovox_empty", "Nothing yet.");
        e.gauge("ferrovox_full", "Something.").value(2.0);
        let text = e.render().unwrap();
        assert!(!text.contains("ferrovox_empty"), "{text}");
        assert!(text.contains("ferrovox_full 2"), "{text}");
    }

    #[test]
    fn mistakes_of_the_caller_are_errors() {
        let mut e = Exposition::new();
        e.counter("ferrovox_calls", "No suffix.").value(1.0);
        assert_eq!(
            e.render(),
            Err(ExpoError::CounterName("ferrovox_calls".into()))
        );
        let mut e = Exposition::new();
        e.gauge("9lives", "Bad.").value(1.0);
        assert!(matches!(e.render(), Err(ExpoError::BadName(_))));
        let mut e = Exposition::new();
        e.gauge("ferrovox_a", "A.").value(1.0);
        e.gauge("ferrovox_a", "A again.").value(1.0);
        assert!(matches!(e.render(), Err(ExpoError::Duplicate(_))));
        let mut e = Exposition::new();
        e.gauge("ferrovox_b", " ").value(1.0);
        assert!(matches!(e.render(), Err(ExpoError::NoHelp(_))));
        let mut e = Exposition::new();
        e.gauge("ferrovox_c", "C.").sample(&[("__name", "x")], 1.0);
        assert!(matches!(e.render(), Err(ExpoError::BadLabel { .. })));
        let mut e = Exposition::new();
        e.gauge("ferrovox_d", "D.")
            .sample(&[("w", "0")], 1.0)
            .sample(&[("w", "0")], 2.0);
        assert!(matches!(e.render(), Err(ExpoError::SameLabels(_))));
    }

    #[test]
    fn large_counters_keep_their_digits() {
        let mut e = Exposition::new();
        e.counter("ferrovox_big_total", "Big.")
            .value(num(9_007_199_254_740_992));
        let text = e.render().unwrap();
        assert!(
            text.contains("ferrovox_big_total 9007199254740992"),
            "{text}"
        );
    }
}
