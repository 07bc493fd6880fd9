//! `dataset verify` and `dataset synth`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::DatasetCmd;
use crate::progress::bar;

pub(crate) fn dataset(cmd: DatasetCmd, quiet: bool) -> Result<ExitCode> {
    match cmd {
        DatasetCmd::Verify {
            root,
            cache_dir,
            threads,
        } => {
            let mut r = mtlora_pascal::PascalRoot::new(&root);
            if let Some(c) = cache_dir {
                r = r.with_cache_dir(c);
            }
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let bars = std::sync::Mutex::new((String::new(), None::<indicatif::ProgressBar>));
            let report = mtlora_pascal::verify_with_progress(&r, threads, &|split, done, total| {
                let mut st = bars.lock().expect("progress lock");
                if st.0 != split || st.1.is_none() {
                    if let Some(b) = st.1.take() {
                        b.finish();
                    }
                    *st = (
                        split.to_string(),
                        Some(bar(total as u64, split.to_string(), quiet)),
                    );
                }
                if let Some(b) = &st.1 {
                    b.set_position(done as u64);
                    if done == total {
                        b.finish();
                    }
                }
            });
            print!("{}", report.render(&root));
            Ok(if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        DatasetCmd::Synth {
            out,
            ids,
            seed,
            size,
        } => {
            let mut cfg = mtlora_pascal::SynthConfig {
                ids,
                seed,
                ..Default::default()
            };
            if let Some(s) = size {
                let (w, h) = s.split_once('x').context("--size WxH")?;
                cfg.sizes = vec![(
                    w.parse().context("--size W")?,
                    h.parse().context("--size H")?,
                )];
            }
            let (train, val) = mtlora_pascal::synthesize(&out, &cfg)?;
            println!(
                "wrote {} train and {} val ids to {}",
                train.len(),
                val.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
