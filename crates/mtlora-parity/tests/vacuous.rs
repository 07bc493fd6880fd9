//! Parity cannot pass vacuously: a fixture with a renamed tensor, a deleted sidecar field or a
//! tensor no check reads is a FAIL (or an error naming what is wrong), never a PASS.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A copy of `losses.{json,safetensors}` in `dir`, with `edit_json` and `edit_tensors` applied.
fn edited_losses(
    dir: &Path,
    edit_json: impl FnOnce(&mut serde_json::Map<String, Value>),
    edit_tensors: impl FnOnce(&mut mtlora::StateDict),
) -> PathBuf {
    let text = std::fs::read_to_string(fixtures().join("losses.json")).unwrap();
    let mut json: Value = serde_json::from_str(&text).unwrap();
    edit_json(json.as_object_mut().unwrap());
    let sidecar = dir.join("losses.json");
    std::fs::write(&sidecar, serde_json::to_string(&json).unwrap()).unwrap();
    let mut tensors = mtlora::read_safetensors(&fixtures().join("losses.safetensors")).unwrap();
    edit_tensors(&mut tensors);
    mtlora::write_safetensors(&dir.join("losses.safetensors"), &tensors, None).unwrap();
    sidecar
}

fn verdict(sidecar: &Path) -> Result<String, String> {
    match mtlora_parity::run(sidecar, &Device::default()) {
        Ok(r) if r.passed() => Ok(r.render()),
        Ok(r) => Err(r.render()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn the_unedited_copy_passes() {
    // the control: the copying itself changes nothing
    let dir = tempfile::tempdir().unwrap();
    let sidecar = edited_losses(dir.path(), |_| {}, |_| {});
    verdict(&sidecar).expect("unedited copy passes");
}

fn delete_multitask(j: &mut serde_json::Map<String, Value>) {
    j.remove("multitask");
}

fn rename_sal_logits(t: &mut mtlora::StateDict) {
    let v = t.remove("sal_regular.logits").unwrap();
    t.insert("sal_regular.logits_renamed".into(), v);
}

#[test]
fn renamed_tensor_and_deleted_field_fail() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = edited_losses(dir.path(), delete_multitask, rename_sal_logits);
    let why = verdict(&sidecar).expect_err("must not pass");
    assert!(why.contains("multitask"), "{why}");

    // each edit alone is caught as well, naming what is wrong
    let dir = tempfile::tempdir().unwrap();
    let sidecar = edited_losses(dir.path(), delete_multitask, |_| {});
    let why = verdict(&sidecar).expect_err("deleted field");
    assert!(why.contains("missing field `multitask`"), "{why}");
    let dir = tempfile::tempdir().unwrap();
    let sidecar = edited_losses(dir.path(), |_| {}, rename_sal_logits);
    let why = verdict(&sidecar).expect_err("renamed tensor");
    assert!(why.contains("\"sal_regular.logits\" is missing"), "{why}");
}

#[test]
fn a_tensor_no_check_reads_fails_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = edited_losses(
        dir.path(),
        |_| {},
        |t| {
            let v = t["sal_regular.logits"].clone();
            t.insert("extra_case.logits".into(), v);
        },
    );
    let why = verdict(&sidecar).expect_err("unread tensor");
    assert!(
        why.contains("coverage") && why.contains("extra_case.logits"),
        "{why}"
    );
}

#[test]
fn a_case_field_of_the_wrong_type_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = edited_losses(
        dir.path(),
        |j| {
            j["cases"][0]["official_value"] = Value::String("four".into());
        },
        |_| {},
    );
    let why = verdict(&sidecar).expect_err("mistyped field");
    assert!(why.contains("\"four\""), "{why}");
}

/// A folder that mirrors `tests/fixtures` by symbolic links, with `name.json` replaced by a
/// copy whose field at JSON pointer `pointer` is deleted.
fn without_field(dir: &Path, name: &str, pointer: &str) -> PathBuf {
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let e = e.unwrap();
        if e.file_name() != *format!("{name}.json").as_str() {
            std::os::unix::fs::symlink(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.json"))).unwrap();
    let mut json: Value = serde_json::from_str(&text).unwrap();
    let (parent, leaf) = pointer.rsplit_once('/').unwrap();
    let removed = json
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove(leaf));
    assert!(removed.is_some(), "{name}{pointer} exists in the fixture");
    let sidecar = dir.join(format!("{name}.json"));
    std::fs::write(&sidecar, serde_json::to_string(&json).unwrap()).unwrap();
    sidecar
}

#[test]
fn a_deleted_field_of_a_typed_sidecar_is_named_not_defaulted() {
    // fields that once had a default or were optional in the harness
    for (name, pointer, field) in [
        ("train_run", "/optimizer/weight_decay", "weight_decay"),
        ("train_run", "/schedule/scaled/warmup_lr", "warmup_lr"),
        ("train_step", "/optimizer/eps", "eps"),
        ("swin_backbone_only", "/checkpoint/file", "file"),
        ("pascal_mini", "/val_transform/img_size", "img_size"),
        ("pascal_mini", "/dataset_dir", "dataset_dir"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sidecar = without_field(dir.path(), name, pointer);
        let e = verdict(&sidecar).expect_err(&format!("{name} without {pointer} must not pass"));
        assert!(
            e.contains(field) && e.contains("missing field"),
            "{name}{pointer}: {e}"
        );
    }
}
