//! `swin_backbone_only`: the plain Swin backbone, plus the import of the Microsoft-layout
//! checkpoint (`swin_ckpt_tiny.pth`) into the MTLoRA model of the same dims.

use std::collections::BTreeSet;

use burn::tensor::{Device, TensorData};
use mtlora::{load_tensors, read_pth, ModelConfig, NameContext};
use serde::Deserialize;
use serde_json::Value;

use crate::compare::{add_to, group_of, Group, Tolerance};
use crate::fixture::Fixture;
use crate::model_forward::input_tensor;
use crate::ParityError;

/// The `swin_backbone_only` sidecar (FORMAT.md §10): what this check reads; no defaults.
#[derive(Deserialize)]
struct Sidecar {
    model: Value,
    checkpoint: Checkpoint,
    #[serde(rename = "official_import_into_mtlora_config_A")]
    official_import: OfficialImport,
}

#[derive(Deserialize)]
struct Checkpoint {
    file: String,
}

#[derive(Deserialize)]
struct OfficialImport {
    missing_keys: Vec<String>,
    unexpected_keys: Vec<String>,
}

pub(crate) fn run(fx: &Fixture, device: &Device) -> Result<Vec<Group>, ParityError> {
    let side: Sidecar = fx.sidecar()?;
    let mut cfg = ModelConfig::from_json_value(&side.model)?;
    if let Some(m) = cfg.mtlora.as_mut() {
        m.enabled = false;
    }
    let device = device.clone();
    let ctx = NameContext::new(&cfg);
    let backbone = cfg
        .swin()
        .init(&device)
        .map_err(|e| mtlora::ModelError::Config(e.0))?;
    let state = fx.state(fx.json.get("state_keys"));
    let (backbone, report) = load_tensors(backbone, &state, &ctx, "");
    let mut load = Group::check("load_state_dict", true, "");
    if let Err(e) = report.ensure_strict() {
        load.fail(e.to_string());
    }
    let mut groups = vec![load];
    let mut trace = Vec::new();
    let stages = backbone.forward_traced(input_tensor(fx, &device)?, Some(&mut trace));
    for (name, t) in trace {
        let name = name.trim_end_matches(".shared").to_string();
        if name.contains(".task.") {
            continue;
        }
        if let Some(r) = fx.get(&name) {
            add_to(
                &mut groups,
                &group_of(&name),
                &name,
                &t.into_data(),
                r,
                Tolerance::FORWARD,
            );
        }
    }

    // Import of the .pth checkpoint into the MTLoRA model with the same dims (FORMAT.md §10).
    let path = fx.dir.join(&side.checkpoint.file);
    let mut g = Group::new("pth_import");
    let sd = read_pth(&path)?;
    let mut lora_cfg = cfg.clone();
    match lora_cfg.mtlora.as_mut() {
        Some(m) => m.enabled = true,
        None => {
            g.fail("sidecar has no mtlora settings to build the MTLoRA model");
            groups.push(g);
            return Ok(groups);
        }
    }
    let model = lora_cfg.init(&device)?;
    let (model, report, ignored) = model.import_swin_backbone(&sd);
    let official = &side.official_import;
    let exp_missing: BTreeSet<String> = official
        .missing_keys
        .iter()
        .filter(|k| !k.contains("attn_mask"))
        .cloned()
        .collect();
    let got_missing: BTreeSet<String> = report
        .missing
        .iter()
        .map(|k| k.trim_start_matches("backbone.").to_string())
        .collect();
    g.count += 1;
    if exp_missing != got_missing {
        let a: Vec<_> = exp_missing.difference(&got_missing).collect();
        let b: Vec<_> = got_missing.difference(&exp_missing).collect();
        g.fail(format!(
            "missing keys differ: reference-only {a:?}, ours-only {b:?}"
        ));
    }
    let exp_unexpected: BTreeSet<String> = official.unexpected_keys.iter().cloned().collect();
    let got_unexpected: BTreeSet<String> =
        ignored.iter().chain(&report.unexpected).cloned().collect();
    g.count += 1;
    if exp_unexpected != got_unexpected {
        g.fail(format!(
            "unexpected keys {got_unexpected:?}, reference {exp_unexpected:?}"
        ));
    }
    if !report.mismatched.is_empty() {
        g.fail(format!("shape mismatches: {:?}", report.mismatched));
    }
    // B = 0 at init: shared and every task stream equal the plain backbone's stage outputs.
    let lora_stages = model.backbone.forward(input_tensor(fx, &device)?);
    for (i, (plain, lora)) in stages.iter().zip(&lora_stages).enumerate() {
        let reference: TensorData = plain.shared.to_data();
        g.compare(
            &format!("stage{i}.shared"),
            &lora.shared.to_data(),
            &reference,
            Tolerance::FORWARD,
        );
        for (t, task) in lora.tasks.iter().enumerate() {
            g.compare(
                &format!("stage{i}.task{t}"),
                &task.to_data(),
                &reference,
                Tolerance::FORWARD,
            );
        }
    }
    groups.push(g);
    Ok(groups)
}
