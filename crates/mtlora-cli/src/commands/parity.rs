//! `parity`: the fixture checks of `mtlora-parity`, exit 0 only on PASS.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::device;

pub(crate) fn parity(
    files: &[PathBuf],
    device_name: Option<&str>,
    quiet: bool,
) -> Result<ExitCode> {
    let dev = device(device_name, quiet)?.device;
    let mut all_pass = true;
    for path in files {
        println!("== {}", path.display());
        match mtlora_parity::run(path, &dev) {
            Ok(report) => {
                print!("{}", report.render());
                all_pass &= report.passed();
            }
            Err(e) => {
                println!("error: {e}");
                println!("parity: FAIL (could not run)");
                all_pass = false;
            }
        }
    }
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
