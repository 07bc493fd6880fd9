//! The run plots (`plots/*.svg`, written after every evaluation) and the small SVG line-chart
//! engine that draws them (no dependencies): axes with ticks, one polyline per series, a
//! legend, optional log-scale y.

use std::fmt::Write as _;
use std::path::Path;

use mtlora_tasks::Task;
use mtlora_train::record::{write_text, EvalRecord, LossHistory};
use mtlora_train::TrainError;

/// A line chart as SVG: `series` of `(name, points)`.
pub fn svg_chart(
    title: &str,
    x_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    log_y: bool,
) -> String {
    const W: f64 = 720.0;
    const H: f64 = 420.0;
    const L: f64 = 70.0;
    const R: f64 = 170.0;
    const T: f64 = 40.0;
    const B: f64 = 50.0;
    let colors = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    ];
    let ty = |y: f64| if log_y { y.max(1e-12).log10() } else { y };
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|p| p.1.is_finite())
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(ty(y));
        y1 = y1.max(ty(y));
    }
    if pts.is_empty() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let px = |x: f64| L + (x - x0) / (x1 - x0) * (W - L - R);
    let py = |y: f64| H - B - (ty(y) - y0) / (y1 - y0) * (H - T - B);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        W / 2.0,
        esc(title)
    );
    let _ = writeln!(
        s,
        "<line x1=\"{L}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        H - B,
        W - R,
        H - B
    );
    let _ = writeln!(
        s,
        "<line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{}\" stroke=\"black\"/>",
        H - B
    );
    for i in 0..=4 {
        let f = i as f64 / 4.0;
        let yv = y0 + f * (y1 - y0);
        let label = if log_y {
            format!("{:.3e}", 10f64.powf(yv))
        } else {
            format!("{yv:.4}")
        };
        let y = H - B - f * (H - T - B);
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>",
            L - 6.0,
            y + 4.0
        );
        let _ = writeln!(
            s,
            "<line x1=\"{L}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/>",
            W - R
        );
        let xv = x0 + f * (x1 - x0);
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            px(xv),
            H - B + 18.0,
            fmt_x(xv)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        (L + W - R) / 2.0,
        H - 10.0,
        esc(x_label)
    );
    for (i, (name, p)) in series.iter().enumerate() {
        let c = colors[i % colors.len()];
        let path: Vec<String> = p
            .iter()
            .filter(|q| q.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        if path.len() == 1 {
            let _ = writeln!(
                s,
                "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{c}\"/>",
                px(p[0].0),
                py(p[0].1)
            );
        } else if !path.is_empty() {
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.5\" points=\"{}\"/>",
                path.join(" ")
            );
        }
        let ly = T + 16.0 * i as f64 + 10.0;
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{c}\" stroke-width=\"3\"/>",
            W - R + 10.0,
            W - R + 30.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\">{}</text>",
            W - R + 36.0,
            ly + 4.0,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_x(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.1}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Write `plots/loss.svg` (training loss per task, log scale), `plots/metrics.svg` (the Δm
/// inputs per evaluation) and `plots/delta_m.svg`.
pub fn write_run_plots(
    dir: &Path,
    tasks: &[String],
    iters: &LossHistory,
    history: &[EvalRecord],
) -> Result<(), TrainError> {
    let plots = dir.join("plots");
    let mut series: Vec<(String, Vec<(f64, f64)>)> = vec![];
    for (i, name) in tasks
        .iter()
        .chain(std::iter::once(&"total".to_string()))
        .enumerate()
    {
        series.push((
            name.clone(),
            iters
                .iter()
                .filter_map(|(k, v)| v.get(i).map(|&y| (*k as f64, y)))
                .collect(),
        ));
    }
    write_text(
        &plots.join("loss.svg"),
        &svg_chart(
            "training loss per task (unweighted; total weighted)",
            "iteration",
            &series,
            true,
        ),
    )?;
    let keys: Vec<&str> = Task::ALL.iter().filter_map(|t| t.delta_m_key()).collect();
    let series: Vec<(String, Vec<(f64, f64)>)> = keys
        .iter()
        .filter(|k| history.iter().any(|r| r.scores.contains_key(**k)))
        .map(|k| {
            (
                k.to_string(),
                history
                    .iter()
                    .filter_map(|r| r.scores.get(*k).map(|v| (r.epoch as f64, *v)))
                    .collect(),
            )
        })
        .collect();
    write_text(
        &plots.join("metrics.svg"),
        &svg_chart(
            "validation metrics (mIoU %, normals degrees)",
            "epoch",
            &series,
            false,
        ),
    )?;
    let dm = vec![(
        "delta_m (%)".to_string(),
        history
            .iter()
            .filter_map(|r| r.scores.get("delta_m").map(|v| (r.epoch as f64, *v)))
            .collect(),
    )];
    write_text(
        &plots.join("delta_m.svg"),
        &svg_chart("Δm against single-task baselines", "epoch", &dm, false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_a_line_per_series_and_escapes_text() {
        let svg = svg_chart(
            "t<",
            "x",
            &[("s".into(), vec![(0.0, 1.0), (1.0, 2.0)])],
            false,
        );
        assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("t&lt;"));
    }
}
