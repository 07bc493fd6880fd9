//! Mapping between burn module paths and the reference PyTorch `state_dict` keys.

use crate::config::ModelConfig;

/// What the name mapping needs to know about a model.
#[derive(Debug, Clone)]
pub struct NameContext {
    /// Task names in task order.
    pub tasks: Vec<String>,
    /// qkv, proj, fc1, fc2 wrapped by MTLoRA (keys under `.linear.`).
    pub wrapped_block_linears: [bool; 4],
    /// Patch-merging reduction wrapped (MTLoRA+).
    pub wrapped_reduction: bool,
}

impl NameContext {
    /// From a model config.
    pub fn new(cfg: &ModelConfig) -> Self {
        let m = cfg.mtlora.as_ref().filter(|m| m.enabled);
        Self {
            tasks: cfg.task_names(),
            wrapped_block_linears: [
                m.is_some_and(|m| m.qkv_enabled),
                m.is_some_and(|m| m.proj_enabled),
                m.is_some_and(|m| m.fc1_enabled),
                m.is_some_and(|m| m.fc2_enabled),
            ],
            wrapped_reduction: m.is_some_and(|m| m.downsampler_enabled),
        }
    }

    fn wrapped(&self, layer: &str) -> bool {
        match layer {
            "qkv" => self.wrapped_block_linears[0],
            "proj" => self.wrapped_block_linears[1],
            "fc1" => self.wrapped_block_linears[2],
            "fc2" => self.wrapped_block_linears[3],
            "reduction" => self.wrapped_reduction,
            _ => false,
        }
    }

    fn task(&self, idx: &str) -> String {
        idx.parse::<usize>()
            .ok()
            .and_then(|i| self.tasks.get(i).cloned())
            .unwrap_or_else(|| idx.to_string())
    }

    /// Reference key of a burn module path (segments joined by `.`).
    pub fn torch_key(&self, path: &[String]) -> String {
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["downsampler", t, "downsample", k, rest @ ..] => {
                format!(
                    "downsampler.{}.downsample_{k}.{}",
                    self.task(t),
                    rest.join(".")
                )
            }
            ["decoders", t, layer, rest @ ..] => {
                let idx = match *layer {
                    "conv0" => "0",
                    "bn1" => "1",
                    "conv3" => "3",
                    other => other,
                };
                format!(
                    "decoders.decoders.{}.last_layer.{idx}.{}",
                    self.task(t),
                    rest.join(".")
                )
            }
            _ => {
                let mut out: Vec<String> = Vec::with_capacity(segs.len());
                let mut i = 0;
                while i < segs.len() {
                    let s = segs[i];
                    if s == "linear" && i > 0 && !self.wrapped(segs[i - 1]) {
                        i += 1;
                        continue;
                    }
                    out.push(s.to_string());
                    if (s == "lora_tasks_A" || s == "lora_tasks_B") && i + 1 < segs.len() {
                        out.push(self.task(segs[i + 1]));
                        i += 2;
                        continue;
                    }
                    i += 1;
                }
                out.join(".")
            }
        }
    }
}

/// Whether a reference key names a buffer (not a parameter).
pub fn is_buffer_key(key: &str) -> bool {
    key.ends_with(".running_mean")
        || key.ends_with(".running_var")
        || key.ends_with(".num_batches_tracked")
        || key.ends_with(".relative_position_index")
        || key.ends_with(".attn_mask")
}

/// Buffers that are recomputed from the geometry and never loaded.
pub fn is_recomputed_buffer(key: &str) -> bool {
    key.ends_with(".relative_position_index") || key.ends_with("attn_mask")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(wrapped: bool) -> NameContext {
        NameContext {
            tasks: vec!["semseg".into(), "normals".into()],
            wrapped_block_linears: [wrapped; 4],
            wrapped_reduction: false,
        }
    }

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn maps_reference_keys() {
        let c = ctx(true);
        assert_eq!(
            c.torch_key(&p("backbone.layers.0.blocks.1.attn.proj.lora_tasks_A.1")),
            "backbone.layers.0.blocks.1.attn.proj.lora_tasks_A.normals"
        );
        assert_eq!(
            c.torch_key(&p("backbone.layers.1.blocks.0.mlp.fc1.linear.weight")),
            "backbone.layers.1.blocks.0.mlp.fc1.linear.weight"
        );
        assert_eq!(
            c.torch_key(&p("backbone.layers.1.downsample.reduction.linear.weight")),
            "backbone.layers.1.downsample.reduction.weight"
        );
        assert_eq!(
            c.torch_key(&p("downsampler.0.downsample.3.weight")),
            "downsampler.semseg.downsample_3.weight"
        );
        assert_eq!(
            c.torch_key(&p("decoders.1.bn1.running_var")),
            "decoders.decoders.normals.last_layer.1.running_var"
        );
        assert_eq!(
            ctx(false).torch_key(&p("layers.0.blocks.0.attn.qkv.linear.bias")),
            "layers.0.blocks.0.attn.qkv.bias"
        );
    }
}
