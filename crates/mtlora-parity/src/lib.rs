//! Parity checks of mtlora-rs against the reference fixtures (FORMAT.md): each fixture sidecar
//! `NAME.json` (+ `NAME.safetensors` beside it) is rebuilt from the sidecar alone, run, and
//! every captured tensor compared with the FORMAT.md §12 thresholds.

mod compare;
mod fixture;
mod losses;
mod lr_schedule;
mod metrics;
mod model_forward;
mod param_counts;
mod pascal_mini;
mod swin_backbone;
mod train_run;
mod train_step;

use std::path::Path;

pub use compare::{Group, Tolerance};
pub use fixture::Fixture;

/// A parity run failed to execute (not a numerical failure).
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// Missing or malformed fixture files.
    #[error("{0}")]
    Fixture(String),
    /// Dataset decoding failed.
    #[error(transparent)]
    Data(#[from] mtlora_pascal::PascalError),
    /// Model building or weight loading failed.
    #[error(transparent)]
    Model(#[from] mtlora::ModelError),
}

/// All compared groups of one fixture.
#[derive(Debug, Default)]
pub struct Report {
    /// Fixture name.
    pub fixture: String,
    /// One entry per tensor group.
    pub groups: Vec<Group>,
}

impl Report {
    /// Number of failed groups.
    pub fn failed(&self) -> usize {
        self.groups
            .iter()
            .filter(|g| !g.passed() && !g.informational)
            .count()
    }

    /// Whether every group passed (and at least one was compared).
    pub fn passed(&self) -> bool {
        !self.groups.is_empty() && self.failed() == 0
    }

    /// Printable lines, ending with `parity: PASS` or `parity: FAIL (<n> of <m> failed)`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for g in &self.groups {
            s.push_str(&g.line());
            s.push('\n');
        }
        if self.passed() {
            s.push_str("parity: PASS\n");
        } else {
            s.push_str(&format!(
                "parity: FAIL ({} of {} failed)\n",
                self.failed().max(1),
                self.groups.len()
            ));
        }
        s
    }
}

/// Run the check that matches the sidecar's `fixture` field, on `device` (without autodiff).
pub fn run(sidecar: &Path, device: &burn::tensor::Device) -> Result<Report, ParityError> {
    let fx = Fixture::load(sidecar)?;
    let kind = fx
        .json
        .get("fixture")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let mut groups = match kind.as_str() {
        "model_forward" => model_forward::run(&fx, device)?,
        "swin_backbone_only" => swin_backbone::run(&fx, device)?,
        "train_step" => train_step::run(&fx, device)?,
        "losses" => losses::run(&fx, device)?,
        "param_counts" => param_counts::run(&fx, device)?,
        "pascal_mini" => pascal_mini::run(&fx, device)?,
        "metrics" => metrics::run(&fx, device)?,
        "lr_schedule" => lr_schedule::run(&fx, device)?,
        "train_run" => train_run::run(&fx, device)?,
        other => {
            return Err(ParityError::Fixture(format!(
                "{}: fixture kind {other:?} is not handled by this parity command yet",
                sidecar.display()
            )))
        }
    };
    // every tensor of the fixture must have been consumed by some check
    let unused = fx.unused();
    let listed: Vec<&str> = unused.iter().take(5).map(String::as_str).collect();
    groups.push(Group::check(
        "coverage",
        unused.is_empty(),
        if unused.is_empty() {
            String::new()
        } else {
            format!(
                "{} fixture tensor(s) read by no check: {}{}",
                unused.len(),
                listed.join(", "),
                if unused.len() > 5 { ", ..." } else { "" }
            )
        },
    ));
    Ok(Report {
        fixture: kind,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_without_groups_or_with_an_empty_group_fails() {
        assert!(!Report::default().passed());
        let r = Report {
            fixture: "x".into(),
            groups: vec![Group::check("ok", true, ""), Group::new("empty")],
        };
        assert!(!r.passed());
        assert!(r.render().ends_with("parity: FAIL (1 of 2 failed)\n"));
    }
}
