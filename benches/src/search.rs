//! The search for the highest rate the relay forwards with loss under a threshold: double the
//! offered rate until a step fails, then bisect between the best pass and the lowest failure.

/// What the search needs to know of a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// Rate asked for, packets per second.
    pub target_pps: u64,
    /// Rate the tool actually sent in the measured window.
    pub offered_pps: f64,
    /// Lost share of the measured packets, percent.
    pub loss_pct: f64,
}

/// A step result the search can judge.
pub trait Measured {
    /// The figures the verdict is made from.
    fn probe(&self) -> Probe;
}

/// How a step is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Offered the target and lost less than the threshold.
    Pass,
    /// Lost at least the threshold.
    Fail,
    /// Lost less than the threshold but the tool could not offer the target: the relay's limit
    /// lies above what this tool can show.
    ToolLimited,
}

/// Parameters of the search.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// First rate tried.
    pub start_pps: u64,
    /// Highest rate tried.
    pub max_pps: u64,
    /// Lowest rate tried when the first steps fail.
    pub min_pps: u64,
    /// A step passes with loss strictly below this, percent.
    pub max_loss_pct: f64,
    /// Bisection stops when failure/pass rates are within this ratio minus one (0.05 = 5%).
    pub precision: f64,
    /// Upper bound on the number of steps.
    pub max_steps: u32,
    /// A step whose offered rate is below this share of the target is tool-limited.
    pub tool_tolerance: f64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            start_pps: 20_000,
            max_pps: 5_000_000,
            min_pps: 1_000,
            max_loss_pct: 0.1,
            precision: 0.05,
            max_steps: 16,
            tool_tolerance: 0.97,
        }
    }
}

/// The steps run and what they show.
#[derive(Debug, Clone)]
pub struct SearchOutcome<R> {
    /// Every step in the order run, with its verdict.
    pub steps: Vec<(Verdict, R)>,
    /// Index in `steps` of the highest passing target.
    pub best: Option<usize>,
    /// Some step was tool-limited: the relay's limit may be higher than `best`.
    pub tool_limited: bool,
    /// The search reached `max_pps` with a pass.
    pub reached_max: bool,
}

/// Judges one step.
pub fn verdict(cfg: &SearchConfig, p: &Probe) -> Verdict {
    if p.loss_pct >= cfg.max_loss_pct {
        Verdict::Fail
    } else if p.offered_pps < cfg.tool_tolerance * p.target_pps as f64 {
        Verdict::ToolLimited
    } else {
        Verdict::Pass
    }
}

/// The next rate to try given the highest pass `lo` and the lowest failure (or tool limit)
/// `hi`, or `None` when the search is done.
pub fn next_rate(cfg: &SearchConfig, lo: Option<u64>, hi: Option<u64>) -> Option<u64> {
    match (lo, hi) {
        (None, None) => Some(cfg.start_pps.clamp(cfg.min_pps, cfg.max_pps)),
        (Some(lo), None) => {
            if lo >= cfg.max_pps {
                None
            } else {
                Some(lo.saturating_mul(2).min(cfg.max_pps))
            }
        }
        (None, Some(hi)) => {
            let down = hi / 2;
            (down >= cfg.min_pps && down < hi).then_some(down)
        }
        (Some(lo), Some(hi)) => {
            if hi <= lo || (hi as f64) <= lo as f64 * (1.0 + cfg.precision) {
                None
            } else {
                let mid = lo + (hi - lo) / 2;
                (mid > lo && mid < hi).then_some(mid)
            }
        }
    }
}

/// Runs the search; `run` performs one step at the given aggregate rate.
pub fn search<R: Measured, E>(
    cfg: &SearchConfig,
    mut run: impl FnMut(u64) -> Result<R, E>,
    mut on_step: impl FnMut(Verdict, &R),
) -> Result<SearchOutcome<R>, E> {
    let mut out = SearchOutcome {
        steps: Vec::new(),
        best: None,
        tool_limited: false,
        reached_max: false,
    };
    let mut lo: Option<u64> = None;
    let mut hi: Option<u64> = None;
    for _ in 0..cfg.max_steps {
        let Some(rate) = next_rate(cfg, lo, hi) else {
            break;
        };
        let result = run(rate)?;
        let v = verdict(cfg, &result.probe());
        on_step(v, &result);
        match v {
            Verdict::Pass => {
                if lo.filter(|&l| l >= rate).is_none() {
                    lo = Some(rate);
                    out.best = Some(out.steps.len());
                }
                if rate >= cfg.max_pps {
                    out.reached_max = true;
                }
            }
            Verdict::Fail => hi = Some(hi.map_or(rate, |h| h.min(rate))),
            Verdict::ToolLimited => {
                out.tool_limited = true;
                hi = Some(hi.map_or(rate, |h| h.min(rate)));
            }
        }
        out.steps.push((v, result));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Probe);
    impl Measured for Fake {
        fn probe(&self) -> Probe {
            self.0
        }
    }

    /// A relay that forwards everything up to `limit` and a tool that offers up to `ceiling`.
    fn model(limit: u64, ceiling: u64) -> impl FnMut(u64) -> Result<Fake, ()> {
        move |rate| {
            let offered = rate.min(ceiling);
            let loss = if offered <= limit {
                0.0
            } else {
                (offered - limit) as f64 * 100.0 / offered as f64
            };
            Ok(Fake(Probe {
                target_pps: rate,
                offered_pps: offered as f64,
                loss_pct: loss,
            }))
        }
    }

    #[test]
    fn finds_limit_within_precision() {
        let cfg = SearchConfig::default();
        let mut seen = 0;
        let out = search(&cfg, model(123_000, u64::MAX), |_, _| seen += 1).unwrap();
        let best = out.steps[out.best.unwrap()].1 .0.target_pps;
        assert!(best <= 123_000);
        assert!(
            best as f64 >= 123_000.0 / (1.0 + cfg.precision) - 1.0,
            "{best}"
        );
        assert!(!out.tool_limited);
        assert_eq!(seen, out.steps.len());
        assert!(out.steps.len() <= cfg.max_steps as usize);
    }

    #[test]
    fn goes_down_when_the_start_fails() {
        let cfg = SearchConfig::default();
        let out = search(&cfg, model(3_000, u64::MAX), |_, _| {}).unwrap();
        let best = out.steps[out.best.unwrap()].1 .0.target_pps;
        assert!((2_800..=3_000).contains(&best), "{best}");
    }

    #[test]
    fn tool_ceiling_caps_the_search() {
        let cfg = SearchConfig::default();
        let out = search(&cfg, model(1_000_000, 150_000), |_, _| {}).unwrap();
        assert!(out.tool_limited);
        let best = out.steps[out.best.unwrap()].1 .0.target_pps;
        assert!((140_000..=150_000).contains(&best), "{best}");
    }

    #[test]
    fn stops_at_max_and_never_exceeds_it() {
        let cfg = SearchConfig {
            max_pps: 50_000,
            ..SearchConfig::default()
        };
        let out = search(&cfg, model(u64::MAX, u64::MAX), |_, _| {}).unwrap();
        assert!(out.reached_max);
        assert!(out.steps.iter().all(|(_, f)| f.0.target_pps <= 50_000));
    }

    #[test]
    fn nothing_passes() {
        let cfg = SearchConfig::default();
        let out = search(&cfg, model(0, u64::MAX), |_, _| {}).unwrap();
        assert!(out.best.is_none());
        assert!(out.steps.len() <= cfg.max_steps as usize);
    }

    #[test]
    fn verdicts() {
        let cfg = SearchConfig::default();
        let p = |offered: f64, loss: f64| Probe {
            target_pps: 1000,
            offered_pps: offered,
            loss_pct: loss,
        };
        assert_eq!(verdict(&cfg, &p(1000.0, 0.0)), Verdict::Pass);
        assert_eq!(verdict(&cfg, &p(1000.0, 0.1)), Verdict::Fail);
        assert_eq!(verdict(&cfg, &p(900.0, 0.0)), Verdict::ToolLimited);
        assert_eq!(verdict(&cfg, &p(900.0, 5.0)), Verdict::Fail);
    }
}
