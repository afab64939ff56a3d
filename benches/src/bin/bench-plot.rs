//! `bench-plot`: the SVG picture of a comparison bench's ramp, one line per system.
//!
//! Reads a CSV with the header `system,x,y,y2` (one row per step of a search, in any order)
//! and draws two panels sharing the x axis: `y` against `x` on top (e.g. relayed against
//! offered packets per second, or completed against offered calls per second), `y2` against
//! `x` below (loss or failed calls, in percent). Each system gets one colour and a line through
//! its steps in x order, with a dot per step, so where a system leaves the diagonal or starts
//! to lose shows at a glance.
//!
//! ```text
//! bench-plot --csv ramp.csv --out ramp.svg --title "..." --x "offered calls/s" \
//!     --y "completed calls/s" --y2 "failed calls %"
//! ```
#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use std::collections::{BTreeMap, HashMap};

const USAGE: &str = "bench-plot --csv FILE --out FILE.svg [--title T] [--x LABEL] [--y LABEL] \
[--y2 LABEL]";

/// The systems' colours, in the order they first appear.
const COLOURS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
];

/// One system's steps: (x, y, y2), sorted by x.
type Series = Vec<(f64, f64, f64)>;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut kv = HashMap::new();
    while let Some(k) = args.next() {
        let v = args
            .next()
            .with_context(|| format!("{k} needs a value; {USAGE}"))?;
        kv.insert(k, v);
    }
    let get = |k: &str, d: &str| kv.get(k).cloned().unwrap_or_else(|| d.to_string());
    let csv = kv.get("--csv").with_context(|| USAGE.to_string())?;
    let out = kv.get("--out").with_context(|| USAGE.to_string())?;
    let text = std::fs::read_to_string(csv).with_context(|| format!("read {csv}"))?;
    let (order, series) = read(&text)?;
    let labels = [get("--x", "x"), get("--y", "y"), get("--y2", "y2")];
    draw(out, &get("--title", ""), &labels, &order, &series)
}

/// The systems in order of first appearance, and each one's steps.
fn read(text: &str) -> Result<(Vec<String>, BTreeMap<String, Series>)> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("system,x,y,y2") {
        bail!("the first line must be the header system,x,y,y2");
    }
    let mut order = Vec::new();
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let [system, x, y, y2] = f[..] else {
            bail!("line {}: four fields expected: {line}", n + 2);
        };
        let num = |s: &str| -> Result<f64> {
            s.parse()
                .with_context(|| format!("line {}: {s:?} is not a number", n + 2))
        };
        if !series.contains_key(system) {
            order.push(system.to_string());
        }
        let row = (num(x)?, num(y)?, num(y2)?);
        series.entry(system.to_string()).or_default().push(row);
    }
    if series.is_empty() {
        bail!("no steps to draw");
    }
    for s in series.values_mut() {
        s.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok((order, series))
}

/// The largest value of `f` over every step (at least a small positive number, so an all-zero
/// panel still has an axis).
fn top(series: &BTreeMap<String, Series>, f: impl Fn(&(f64, f64, f64)) -> f64) -> f64 {
    let max = series.values().flatten().map(f).fold(0.0, f64::max);
    if max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

/// Tick labels with as many decimals as the axis' range needs.
fn tick(max: f64) -> impl Fn(&f64) -> String {
    let decimals = if max >= 20.0 {
        0
    } else if max >= 2.0 {
        1
    } else {
        2
    };
    move |v| format!("{v:.decimals$}")
}

fn draw(
    out: &str,
    title: &str,
    [xl, yl, y2l]: &[String; 3],
    order: &[String],
    series: &BTreeMap<String, Series>,
) -> Result<()> {
    let root = SVGBackend::new(out, (900, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (upper, lower) = root.split_vertically(400);
    let x_max = top(series, |r| r.0);
    for (area, label, pick, legend) in [(&upper, yl, 1usize, true), (&lower, y2l, 2, false)] {
        let value = |r: &(f64, f64, f64)| if pick == 1 { r.1 } else { r.2 };
        let y_max = top(series, value);
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        let (xf, yf) = (tick(x_max), tick(y_max));
        chart
            .configure_mesh()
            .x_desc(xl)
            .y_desc(label)
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .label_style(("sans-serif", 13))
            .draw()?;
        for (i, name) in order.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let pts: Vec<(f64, f64)> = series[name].iter().map(|r| (r.0, value(r))).collect();
            let line = chart.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?;
            if legend {
                line.label(name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            }
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
        }
        if legend {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn steps_are_grouped_by_system_in_order_and_sorted_by_x() {
        let (order, s) = read("system,x,y,y2\nb,2,2,0\na,4,3,25\nb,1,1,0\n").unwrap();
        assert_eq!(order, ["b", "a"]);
        assert_eq!(s["b"], vec![(1.0, 1.0, 0.0), (2.0, 2.0, 0.0)]);
        assert_eq!(s["a"], vec![(4.0, 3.0, 25.0)]);
    }

    #[test]
    fn a_bad_header_a_short_row_or_a_word_is_refused() {
        assert!(read("x,y\n").is_err());
        assert!(read("system,x,y,y2\na,1,2\n").is_err());
        assert!(read("system,x,y,y2\na,1,two,0\n").is_err());
        assert!(read("system,x,y,y2\n").is_err());
    }

    #[test]
    fn a_picture_is_written() {
        let (order, s) = read("system,x,y,y2\na,100,100,0\na,200,150,5\nb,100,90,1\n").unwrap();
        let dir = std::env::temp_dir().join(format!("bench-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("t.svg");
        let labels = ["x".to_string(), "y".to_string(), "y2".to_string()];
        draw(out.to_str().unwrap(), "t", &labels, &order, &s).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        // Each system's name in the legend (plotters puts a text element's content on a line of
        // its own).
        assert!(
            svg.contains("\na\n</text>") && svg.contains("\nb\n</text>"),
            "{svg}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
