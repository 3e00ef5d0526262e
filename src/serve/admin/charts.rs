//! Small SVG charts rendered on the server: no script, no build step, and
//! each bar or point carries its number as text and as a tooltip.

use std::fmt::Write;

use super::html::esc;

/// Colours for series, in order (readable on white, distinct for common colour blindness).
pub const PALETTE: [&str; 6] = [
    "#0b6e4f", "#1f77b4", "#e07b00", "#8e44ad", "#b3261e", "#5b6475",
];

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 36.0;
const TOP: f64 = 14.0;

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10_f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * mag >= v {
            return step * mag;
        }
    }
    10.0 * mag
}

fn fmt(v: f64, percent: bool) -> String {
    if percent {
        format!("{:.0}%", v * 100.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn open(svg: &mut String, label: &str) {
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="system-ui, sans-serif">"#,
        esc(label)
    );
}

fn axes(svg: &mut String, max: f64, percent: bool, labels: &[String]) {
    let plot_h = H - TOP - BOTTOM;
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = H - BOTTOM - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{W}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e6ec"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#5b6475">{}</text>"##,
            LEFT - 4.0,
            y + 4.0,
            fmt(v, percent)
        );
    }
    let n = labels.len().max(1);
    let every = n.div_ceil(10);
    let slot = (W - LEFT) / n as f64;
    for (i, l) in labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = LEFT + slot * (i as f64 + 0.5);
        // Days show as DD/MM, to fit.
        let short = if l.len() == 10 && l.as_bytes()[4] == b'-' {
            format!("{}/{}", &l[8..10], &l[5..7])
        } else {
            l.clone()
        };
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#5b6475">{}</text>"##,
            H - BOTTOM + 16.0,
            esc(&short)
        );
    }
}

/// Stacked bars: one bar per label, one segment per series.
#[must_use]
pub fn stacked_bars(label: &str, labels: &[String], series: &[(String, Vec<f64>)]) -> String {
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|(_, v)| v.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let mut svg = String::new();
    open(&mut svg, label);
    axes(&mut svg, max, false, labels);
    let plot_h = H - TOP - BOTTOM;
    let slot = (W - LEFT) / labels.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    for (i, day) in labels.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = H - BOTTOM;
        for (s, (name, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = plot_h * v / max;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{}" data-value="{v}"><title>{} · {}: {}</title></rect>"#,
                PALETTE[s % PALETTE.len()],
                esc(day),
                esc(name),
                fmt(v, false)
            );
        }
        if totals[i] > 0.0 && labels.len() <= 16 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bar / 2.0,
                y - 3.0,
                fmt(totals[i], false)
            );
        }
    }
    svg.push_str("</svg>");
    svg.push_str(&legend(
        &series.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
    ));
    svg
}

/// A legend for `names`, coloured as the series.
#[must_use]
pub fn legend(names: &[String]) -> String {
    let mut out = String::from(r#"<div class="legend">"#);
    for (i, n) in names.iter().enumerate() {
        let _ = write!(
            out,
            r#"<span style="--c:{}">{}</span>"#,
            PALETTE[i % PALETTE.len()],
            esc(n)
        );
    }
    out.push_str("</div>");
    out
}

/// Horizontal bars, one per item, with the number after each.
#[must_use]
pub fn horizontal_bars(label: &str, items: &[(String, f64)]) -> String {
    let row = 24.0;
    let height = (items.len().max(1) as f64) * row + 8.0;
    let name_w = 180.0;
    let max = items.iter().map(|i| i.1).fold(0.0, f64::max).max(1.0);
    let mut svg = format!(
        r#"<svg viewBox="0 0 {W} {height}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" font-size="12" font-family="system-ui, sans-serif">"#,
        esc(label)
    );
    if items.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="8" y="20" fill="#5b6475">Belum ada data</text>"##
        );
    }
    for (i, (name, v)) in items.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let w = (W - name_w - 60.0) * v / max;
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{name_w}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}" data-value="{v}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}">{}</text>"##,
            name_w - 6.0,
            y + 15.0,
            esc(name),
            y + 3.0,
            row - 8.0,
            PALETTE[0],
            esc(name),
            fmt(*v, false),
            name_w + w + 5.0,
            y + 15.0,
            fmt(*v, false)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A line over labels, for a rate between 0 and 1.
#[must_use]
pub fn rate_line(label: &str, points: &[(String, Option<f64>)]) -> String {
    let labels: Vec<String> = points.iter().map(|p| p.0.clone()).collect();
    let max = nice_max(points.iter().filter_map(|p| p.1).fold(0.0, f64::max)).min(1.0);
    let mut svg = String::new();
    open(&mut svg, label);
    axes(&mut svg, max, true, &labels);
    let plot_h = H - TOP - BOTTOM;
    let slot = (W - LEFT) / points.len().max(1) as f64;
    let mut path = String::new();
    let mut dots = String::new();
    for (i, (day, v)) in points.iter().enumerate() {
        let Some(v) = v else { continue };
        let x = LEFT + slot * (i as f64 + 0.5);
        let y = H - BOTTOM - plot_h * v / max;
        let _ = write!(
            path,
            "{}{x:.1},{y:.1} ",
            if path.is_empty() { "M" } else { "L" }
        );
        let _ = write!(
            dots,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{}" data-value="{v:.4}"><title>{}: {}</title></circle>"#,
            PALETTE[4],
            esc(day),
            fmt(*v, true)
        );
    }
    if !path.is_empty() {
        let _ = write!(
            svg,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            path.trim_end(),
            PALETTE[4]
        );
    }
    svg.push_str(&dots);
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_carry_their_numbers_and_escape_names() {
        let svg = stacked_bars(
            "Pesan",
            &["2026-11-25".into(), "2026-11-26".into()],
            &[
                ("wa<x>".into(), vec![3.0, 0.0]),
                ("web".into(), vec![1.0, 2.0]),
            ],
        );
        assert!(svg.contains(r#"data-value="3""#));
        assert!(svg.contains("wa&lt;x&gt;"));
        assert!(!svg.contains("wa<x>"));
        assert!(svg.contains(">4</text>"), "total above the first bar");
        assert!(svg.contains("25/11"));
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(23.0), 25.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(0.31), 0.5);
    }
}
