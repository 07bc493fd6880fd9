//! `model_forward`: eval-mode forward of the full model from the sidecar config.

use burn::tensor::{Device, Tensor};
use mtlora::{ModelConfig, MultiTaskSwin, StateDict};

use crate::compare::{add_to, group_of, Group, Tolerance};
use crate::fixture::Fixture;
use crate::ParityError;

/// Build the model of `cfg` on `device` and load `state` strictly.
pub(crate) fn build_loaded(
    cfg: &ModelConfig,
    state: &StateDict,
    device: &Device,
) -> Result<(MultiTaskSwin, Group), ParityError> {
    let model = cfg.init(device)?;
    let (model, report) = model.load_state_dict(state);
    let mut g = Group::check("load_state_dict", true, "");
    if let Err(e) = report.ensure_strict() {
        g.fail(e.to_string());
    }
    // recomputed buffers must equal the stored ones
    let ours = mtlora::weights::geometry_buffers(&model.backbone, "backbone.");
    for (k, v) in &ours {
        if let Some(r) = state.get(k) {
            g.compare(k, v, r, Tolerance::EXACT);
        }
    }
    Ok((model, g))
}

pub(crate) fn input_tensor(fx: &Fixture, device: &Device) -> Result<Tensor<4>, ParityError> {
    Ok(Tensor::<4>::from_data(
        fx.tensor("input")?.clone().convert::<f32>(),
        device,
    ))
}

pub(crate) fn run(fx: &Fixture, device: &Device) -> Result<Vec<Group>, ParityError> {
    let cfg = ModelConfig::from_json_value(fx.field("model")?)?;
    let device = device.clone();
    let state = fx.state(fx.json.get("state_keys"));
    let (model, load) = build_loaded(&cfg, &state, &device)?;
    let mut groups = vec![load];
    let (_, caps) = model.forward_traced(input_tensor(fx, &device)?);
    // a capture of the fixture the model did not produce is never read: the `coverage`
    // group of every run reports it
    for (name, data) in &caps {
        if let Some(r) = fx.get(name) {
            add_to(
                &mut groups,
                &group_of(name),
                name,
                data,
                r,
                Tolerance::FORWARD,
            );
        }
    }
    let counts: crate::param_counts::Counts =
        serde_json::from_value(fx.field("params")?.clone())
            .map_err(|e| ParityError::Fixture(format!("model_forward: params: {e}")))?;
    if counts.trainable_names.is_none() {
        return Err(ParityError::Fixture(
            "model_forward: params: missing field `trainable_names`".into(),
        ));
    }
    groups.push(crate::param_counts::compare_counts(
        "params",
        &model.param_report(&cfg),
        &counts,
    ));
    Ok(groups)
}
