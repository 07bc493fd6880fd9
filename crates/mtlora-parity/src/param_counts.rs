//! `param_counts`: totals, trainable counts and breakdowns of the shipped configs.

use burn::tensor::Device;
use mtlora::{ModelConfig, ParamReport};
use serde_json::Value;

use crate::compare::Group;
use crate::fixture::Fixture;
use crate::ParityError;

fn get_usize(v: &Value, k: &str) -> Option<usize> {
    v.get(k).and_then(Value::as_u64).map(|x| x as usize)
}

/// Compare a [`ParamReport`] with a reference entry (exact).
pub(crate) fn compare_counts(name: &str, r: &ParamReport, reference: &Value) -> Group {
    let mut g = Group::new(name);
    let mut eq = |what: String, mine: usize, theirs: Option<usize>| {
        if let Some(t) = theirs {
            g.compare_scalar(&what, mine as f64, t as f64, 0.0);
        }
    };
    eq("total".into(), r.total, get_usize(reference, "total"));
    eq(
        "trainable".into(),
        r.trainable,
        get_usize(reference, "trainable"),
    );
    eq("frozen".into(), r.frozen, get_usize(reference, "frozen"));
    eq(
        "n_trainable_tensors".into(),
        r.n_trainable_tensors,
        get_usize(reference, "n_trainable_tensors"),
    );
    for (field, mine) in [
        ("breakdown_trainable", &r.breakdown_trainable),
        ("breakdown_trainable_fine", &r.breakdown_trainable_fine),
        ("breakdown_total_fine", &r.breakdown_total_fine),
    ] {
        if let Some(obj) = reference.get(field).and_then(Value::as_object) {
            for (k, v) in obj {
                eq(
                    format!("{field}.{k}"),
                    mine.get(k).copied().unwrap_or(0),
                    v.as_u64().map(|x| x as usize),
                );
            }
            for (k, v) in mine {
                if !obj.contains_key(k) && *v != 0 {
                    eq(format!("{field}.{k}"), *v, Some(0));
                }
            }
        }
    }
    if let Some(p) = reference.get("main_py_printout") {
        let m = &r.main_py_printout;
        eq(
            "main_py.trainable".into(),
            m.number_of_trainable_params,
            get_usize(p, "number_of_trainable_params"),
        );
        eq(
            "main_py.decoder".into(),
            m.decoder_params,
            get_usize(p, "decoder_params"),
        );
        eq(
            "main_py.lora".into(),
            m.lora_params,
            get_usize(p, "lora_params"),
        );
        eq(
            "main_py.extra".into(),
            m.extra_params,
            get_usize(p, "extra_params"),
        );
        eq(
            "main_py.total".into(),
            m.total_params,
            get_usize(p, "total_params"),
        );
        eq(
            "main_py.total_without_lora".into(),
            m.total_params_without_lora,
            get_usize(p, "total_params_without_lora"),
        );
    }
    if let Some(names) = reference.get("trainable_names").and_then(Value::as_array) {
        let theirs: std::collections::BTreeSet<&str> =
            names.iter().filter_map(Value::as_str).collect();
        let mine: std::collections::BTreeSet<&str> =
            r.trainable_names.iter().map(String::as_str).collect();
        let extra: Vec<_> = mine.difference(&theirs).collect();
        let missing: Vec<_> = theirs.difference(&mine).collect();
        g.count += 1;
        if !extra.is_empty() || !missing.is_empty() {
            g.fail(format!(
                "trainable set differs: extra {extra:?}, missing {missing:?}"
            ));
        }
    }
    g
}

pub(crate) fn run(fx: &Fixture, device: &Device) -> Result<Vec<Group>, ParityError> {
    let configs = fx
        .field("configs")?
        .as_array()
        .ok_or_else(|| ParityError::Fixture("configs is not a list".into()))?;
    let device = device.clone();
    let mut groups = Vec::new();
    for (i, entry) in configs.iter().enumerate() {
        let name = entry
            .get("config_file")
            .and_then(Value::as_str)
            .and_then(|f| f.rsplit('/').next())
            .map(|f| f.trim_end_matches(".yaml").to_string())
            .unwrap_or_else(|| format!("config{i}"));
        let cfg = ModelConfig::from_json_value(entry.get("model").unwrap_or(&Value::Null))?;
        let report = cfg.init(&device)?.param_report(&cfg);
        groups.push(compare_counts(&name, &report, entry));
    }
    Ok(groups)
}
