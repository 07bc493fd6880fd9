//! Run-config parsing and validation (TOML as users write it, JSON as fixtures hold it).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cfg) = mtlora_train::RunConfig::from_toml_str(text) {
            let _ = cfg.train.validate();
            let _ = cfg.model.validate();
        }
        let _ = mtlora::ModelConfig::from_json_str(text);
    }
});
