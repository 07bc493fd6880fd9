//! `param_counts`: totals, trainable counts and breakdowns of the shipped configs.

use std::collections::{BTreeMap, BTreeSet};

use burn::tensor::Device;
use mtlora::{ModelConfig, ParamReport};
use serde::Deserialize;
use serde_json::Value;

use crate::compare::Group;
use crate::fixture::Fixture;
use crate::ParityError;

/// Reference parameter counts of one configuration (`param_counts` entries, `model_forward`'s
/// `params`): every field required except the two only one kind records.
#[derive(Deserialize)]
pub(crate) struct Counts {
    total: usize,
    trainable: usize,
    frozen: usize,
    breakdown_trainable: BTreeMap<String, usize>,
    breakdown_trainable_fine: BTreeMap<String, usize>,
    breakdown_total_fine: BTreeMap<String, usize>,
    main_py_printout: MainPy,
    /// `param_counts` only
    n_trainable_tensors: Option<usize>,
    /// `model_forward` only
    pub(crate) trainable_names: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct MainPy {
    number_of_trainable_params: usize,
    decoder_params: usize,
    lora_params: usize,
    extra_params: usize,
    total_params: usize,
    total_params_without_lora: usize,
}

/// One `param_counts` entry: the configuration and its counts.
#[derive(Deserialize)]
struct Entry {
    config_file: String,
    model: Value,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Deserialize)]
struct Sidecar {
    configs: Vec<Entry>,
}

/// Compare a [`ParamReport`] with reference counts (exact).
pub(crate) fn compare_counts(name: &str, r: &ParamReport, reference: &Counts) -> Group {
    let mut g = Group::new(name);
    let eq = |g: &mut Group, what: &str, mine: usize, theirs: usize| {
        g.compare_scalar(what, mine as f64, theirs as f64, 0.0);
    };
    eq(&mut g, "total", r.total, reference.total);
    eq(&mut g, "trainable", r.trainable, reference.trainable);
    eq(&mut g, "frozen", r.frozen, reference.frozen);
    if let Some(n) = reference.n_trainable_tensors {
        eq(&mut g, "n_trainable_tensors", r.n_trainable_tensors, n);
    }
    for (field, mine, theirs) in [
        (
            "breakdown_trainable",
            &r.breakdown_trainable,
            &reference.breakdown_trainable,
        ),
        (
            "breakdown_trainable_fine",
            &r.breakdown_trainable_fine,
            &reference.breakdown_trainable_fine,
        ),
        (
            "breakdown_total_fine",
            &r.breakdown_total_fine,
            &reference.breakdown_total_fine,
        ),
    ] {
        for (k, &v) in theirs {
            eq(
                &mut g,
                &format!("{field}.{k}"),
                mine.get(k).copied().unwrap_or(0),
                v,
            );
        }
        for (k, &v) in mine {
            if !theirs.contains_key(k) && v != 0 {
                eq(&mut g, &format!("{field}.{k}"), v, 0);
            }
        }
    }
    let (m, p) = (&r.main_py_printout, &reference.main_py_printout);
    for (what, mine, theirs) in [
        (
            "main_py.trainable",
            m.number_of_trainable_params,
            p.number_of_trainable_params,
        ),
        ("main_py.decoder", m.decoder_params, p.decoder_params),
        ("main_py.lora", m.lora_params, p.lora_params),
        ("main_py.extra", m.extra_params, p.extra_params),
        ("main_py.total", m.total_params, p.total_params),
        (
            "main_py.total_without_lora",
            m.total_params_without_lora,
            p.total_params_without_lora,
        ),
    ] {
        eq(&mut g, what, mine, theirs);
    }
    if let Some(names) = &reference.trainable_names {
        compare_trainable_set(&mut g, r, names);
    }
    g
}

/// The trainable parameter names of `r` against the reference's, as one comparison.
pub(crate) fn compare_trainable_set(g: &mut Group, r: &ParamReport, names: &[String]) {
    let theirs: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mine: BTreeSet<&str> = r.trainable_names.iter().map(String::as_str).collect();
    let extra: Vec<_> = mine.difference(&theirs).collect();
    let missing: Vec<_> = theirs.difference(&mine).collect();
    g.count += 1;
    if !extra.is_empty() || !missing.is_empty() {
        g.fail(format!(
            "trainable set differs: extra {extra:?}, missing {missing:?}"
        ));
    }
}

pub(crate) fn run(fx: &Fixture, device: &Device) -> Result<Vec<Group>, ParityError> {
    let side: Sidecar = fx.sidecar()?;
    let device = device.clone();
    let mut groups = Vec::new();
    for entry in &side.configs {
        let name = entry
            .config_file
            .rsplit('/')
            .next()
            .unwrap_or(&entry.config_file)
            .trim_end_matches(".yaml");
        let cfg = ModelConfig::from_json_value(&entry.model)?;
        let report = cfg.init(&device)?.param_report(&cfg);
        if entry.counts.n_trainable_tensors.is_none() {
            return Err(ParityError::Fixture(format!(
                "param_counts: {name}: missing field `n_trainable_tensors`"
            )));
        }
        groups.push(compare_counts(name, &report, &entry.counts));
    }
    Ok(groups)
}
