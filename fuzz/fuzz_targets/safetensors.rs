//! Checkpoint load: safetensors parsing, the non-finite check, and the metadata sections
//! (model and run config) a checkpoint carries.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok((tensors, meta)) = mtlora::state_dict::parse_safetensors(data) {
        let _ = mtlora::checkpoint::non_finite(&tensors);
        if let Some(c) = meta.get("mtlora.config") {
            let _ = mtlora::ModelConfig::from_json_str(c);
        }
        if let Some(r) = meta.get("mtlora.run") {
            let _ = serde_json::from_str::<mtlora_train::RunConfig>(r);
        }
    }
});
