//! Tensor comparison and grouped PASS/FAIL lines.

use burn::tensor::TensorData;

/// Per-tensor acceptance: `|mine − ref| ≤ rel·max|ref| + abs` element-wise.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    /// Relative to the tensor's largest magnitude.
    pub rel: f64,
    /// Absolute.
    pub abs: f64,
}

impl Tolerance {
    /// Forward captures: `1e-4·max|ref| + 1e-5` (FORMAT.md §12).
    pub const FORWARD: Self = Self {
        rel: 1e-4,
        abs: 1e-5,
    };
    /// Gradients: `1e-3·max|ref|`.
    pub const GRAD: Self = Self {
        rel: 1e-3,
        abs: 0.0,
    };
    /// Exact.
    pub const EXACT: Self = Self { rel: 0.0, abs: 0.0 };
}

/// One printed line: a group of tensors (or scalars) with its worst errors.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Tensors compared.
    pub count: usize,
    /// Largest absolute difference.
    pub max_abs: f64,
    /// Largest difference relative to the tensor's max |ref|.
    pub max_rel: f64,
    /// All within tolerance.
    pub pass: bool,
    /// Extra information (failures, notes).
    pub notes: Vec<String>,
    /// Reported but not part of the verdict.
    pub informational: bool,
}

/// Why a group fails although no comparison failed: it compared nothing.
const COMPARED_NOTHING: &str = "compared nothing (no tensor, scalar or check in this group)";

impl Group {
    /// Empty group: it fails until something is compared.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            count: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            pass: true,
            notes: vec![],
            informational: false,
        }
    }

    /// A group with a single boolean check.
    pub fn check(name: impl Into<String>, ok: bool, note: impl Into<String>) -> Self {
        let mut g = Self::new(name);
        g.count = 1;
        g.pass = ok;
        let n = note.into();
        if !n.is_empty() {
            g.notes.push(n);
        }
        g
    }

    /// The verdict: every comparison within tolerance, and at least one made.
    pub fn passed(&self) -> bool {
        self.pass && self.count > 0
    }

    /// Record a failure note.
    pub fn fail(&mut self, note: impl Into<String>) {
        self.pass = false;
        self.notes.push(note.into());
    }

    /// Compare two tensors (any numeric dtype; compared in f64).
    pub fn compare(
        &mut self,
        what: &str,
        mine: &TensorData,
        reference: &TensorData,
        tol: Tolerance,
    ) {
        self.count += 1;
        if mine.shape() != reference.shape() {
            self.fail(format!(
                "{what}: shape {:?} vs reference {:?}",
                mine.shape(),
                reference.shape()
            ));
            return;
        }
        let (a, b) = match (values::<f64>(mine), values::<f64>(reference)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                self.fail(format!("{what}: not readable as numbers ({e})"));
                return;
            }
        };
        if b.is_empty() {
            self.fail(format!("{what}: the reference has no elements"));
            return;
        }
        let max_ref = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut max_abs = 0.0f64;
        let mut bad = 0usize;
        let limit = tol.rel * max_ref + tol.abs;
        for (x, y) in a.iter().zip(&b) {
            let d = (x - y).abs();
            if d.is_nan() || d > limit {
                bad += 1;
            }
            if d.is_nan() {
                max_abs = f64::INFINITY;
            } else {
                max_abs = max_abs.max(d);
            }
        }
        self.max_abs = self.max_abs.max(max_abs);
        self.max_rel = self.max_rel.max(if max_ref > 0.0 {
            max_abs / max_ref
        } else {
            max_abs
        });
        if bad > 0 {
            self.fail(format!(
                "{what}: {bad} element(s) beyond {limit:.3e} (max abs {max_abs:.3e})"
            ));
        }
    }

    /// Compare two scalars with a relative tolerance.
    pub fn compare_scalar(&mut self, what: &str, mine: f64, reference: f64, rel: f64) {
        self.count += 1;
        let d = (mine - reference).abs();
        let r = if reference != 0.0 {
            d / reference.abs()
        } else {
            d
        };
        self.max_abs = self.max_abs.max(d);
        self.max_rel = self.max_rel.max(r);
        if d.is_nan() || r > rel {
            self.fail(format!("{what}: {mine} vs reference {reference}"));
        }
    }

    /// Compare two scalars with an absolute tolerance.
    pub fn compare_abs(&mut self, what: &str, mine: f64, reference: f64, abs: f64) {
        self.count += 1;
        let d = (mine - reference).abs();
        self.max_abs = self.max_abs.max(d);
        if d.is_nan() || d > abs {
            self.fail(format!(
                "{what}: {mine} vs reference {reference} (|diff| {d:.3e} > {abs})"
            ));
        }
    }

    /// `name  n=..  max_abs=..  max_rel=..  PASS|FAIL  [notes]`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{:<28} n={:<4} max_abs={:<10.3e} max_rel={:<10.3e} {}",
            self.name,
            self.count,
            self.max_abs,
            self.max_rel,
            match (self.passed(), self.informational) {
                (true, _) => "PASS",
                (false, false) => "FAIL",
                (false, true) => "FAIL (informational, not in the verdict)",
            }
        );
        if self.count == 0 {
            s.push_str("\n    ");
            s.push_str(COMPARED_NOTHING);
        }
        for n in self.notes.iter().take(8) {
            s.push_str("\n    ");
            s.push_str(n);
        }
        if self.notes.len() > 8 {
            s.push_str(&format!("\n    ... {} more", self.notes.len() - 8));
        }
        s
    }
}

/// Values of any supported dtype as `E` (f64 for comparisons, f32 for meter inputs).
pub fn values<E: burn::tensor::Element>(d: &TensorData) -> Result<Vec<E>, String> {
    d.clone()
        .convert::<E>()
        .try_to_vec::<E>()
        .map_err(|e| format!("{e:?}"))
}

/// Group name of a capture: the part before the first `.` (`block0`, `stage1`, `down`, ...).
pub fn group_of(name: &str) -> String {
    name.split('.').next().unwrap_or(name).to_string()
}

/// Add a comparison into the group named `group` of `groups` (created on first use).
pub fn add_to(
    groups: &mut Vec<Group>,
    group: &str,
    what: &str,
    mine: &TensorData,
    reference: &TensorData,
    tol: Tolerance,
) {
    let idx = match groups.iter().position(|g| g.name == group) {
        Some(i) => i,
        None => {
            groups.push(Group::new(group));
            groups.len() - 1
        }
    };
    groups[idx].compare(what, mine, reference, tol);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_that_compared_nothing_fails() {
        let g = Group::new("empty");
        assert!(!g.passed());
        assert!(g.line().contains("FAIL") && g.line().contains("compared nothing"));
        let mut g = Group::new("one");
        g.compare_abs("x", 1.0, 1.0, 0.0);
        assert!(g.passed());
    }

    #[test]
    fn an_empty_reference_tensor_fails() {
        let mut g = Group::new("t");
        let empty = TensorData::new(Vec::<f32>::new(), [0]);
        g.compare("x", &empty, &empty, Tolerance::EXACT);
        assert!(!g.passed());
    }
}
