//! A burn `Dataset` over one or more PASCAL_MT splits, a `Batcher` and a multi-threaded loader.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{PascalError, Result};
use crate::layout::PascalRoot;
use crate::pipeline::{process, Augment, Processed, SplitMix64, TransformConfig};
use crate::sample::{decode_sample, Task};

/// Settings of a [`PascalDataset`].
#[derive(Debug, Clone)]
pub struct DatasetConfig {
    /// Splits (`train`, `val`, or both).
    pub splits: Vec<String>,
    /// Tasks to decode.
    pub tasks: Vec<Task>,
    /// Transforms.
    pub transform: TransformConfig,
    /// Random augmentation (training).
    pub augment: bool,
    /// Base seed of the augmentation.
    pub seed: u64,
}

/// PASCAL_MT samples, decoded and transformed on `get`.
#[derive(Debug)]
pub struct PascalDataset {
    root: PascalRoot,
    ids: Vec<(String, String)>,
    parts: BTreeMap<String, Vec<i64>>,
    config: DatasetConfig,
    epoch: AtomicU64,
}

impl PascalDataset {
    /// Open the splits (reads the split files and the Parts index; decodes nothing yet).
    pub fn new(root: PascalRoot, config: DatasetConfig) -> Result<Self> {
        if config.tasks.is_empty() {
            return Err(PascalError::Invalid("no tasks requested".into()));
        }
        for &t in &config.tasks {
            crate::sample::check_pascal(t)?;
        }
        let splits: Vec<&str> = config.splits.iter().map(String::as_str).collect();
        for s in &splits {
            PascalRoot::check_split(s)?;
        }
        let ids = root.ids(&splits)?;
        let mut parts = BTreeMap::new();
        if config.tasks.contains(&Task::HumanParts) {
            for s in &splits {
                parts.extend(root.parts_index(s)?);
            }
        }
        Ok(Self {
            root,
            ids,
            parts,
            config,
            epoch: AtomicU64::new(0),
        })
    }

    /// `(split, id)` of every item.
    pub fn ids(&self) -> &[(String, String)] {
        &self.ids
    }

    /// Set the epoch used by the augmentation seed.
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// Decode and transform item `index` (errors name the file and the problem).
    pub fn load(&self, index: usize) -> Result<Processed> {
        let (_, id) = self.ids.get(index).ok_or_else(|| {
            PascalError::Invalid(format!(
                "index {index} out of range ({} items)",
                self.ids.len()
            ))
        })?;
        let paths = self.root.paths(id);
        let raw = decode_sample(
            id,
            &paths,
            &self.config.tasks,
            self.parts.get(id).map(Vec::as_slice),
        )?;
        let augment = self.config.augment.then(|| {
            let mut rng = SplitMix64::for_sample(
                self.config.seed,
                self.epoch.load(Ordering::Relaxed),
                index as u64,
            );
            Augment::draw(&mut rng)
        });
        Ok(process(raw, &self.config.transform, augment))
    }
}

impl Dataset<Processed, PascalError> for PascalDataset {
    fn get(&self, index: usize) -> Result<Processed> {
        self.load(index)
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// A batch: image `[B, 3, H, W]` and per task `[B, C, H, W]` targets (255 = ignore for semseg,
/// human_parts and normals; sal has no ignore value).
#[derive(Debug, Clone)]
pub struct MultiTaskBatch {
    /// Normalized images.
    pub image: Tensor<4>,
    /// Targets per task.
    pub targets: BTreeMap<Task, Tensor<4>>,
    /// Ids in batch order.
    pub ids: Vec<String>,
    /// Original sizes.
    pub original_sizes: Vec<[usize; 2]>,
}

/// Stacks [`Processed`] samples into a [`MultiTaskBatch`].
#[derive(Debug, Clone, Default)]
pub struct PascalBatcher;

impl Batcher<Processed, MultiTaskBatch> for PascalBatcher {
    fn batch(&self, items: Vec<Processed>, device: &Device) -> MultiTaskBatch {
        let b = items.len();
        assert!(b > 0, "PascalBatcher: empty batch");
        let (h, w) = (items[0].image_u8.h, items[0].image_u8.w);
        let mut img = Vec::with_capacity(b * 3 * h * w);
        for it in &items {
            img.extend_from_slice(&it.image);
        }
        let mut targets = BTreeMap::new();
        for t in items[0].labels.keys() {
            let c = t.label_channels();
            let mut v = Vec::with_capacity(b * c * h * w);
            for it in &items {
                v.extend_from_slice(&it.labels[t]);
            }
            targets.insert(
                *t,
                Tensor::from_data(TensorData::new(v, [b, c, h, w]), device),
            );
        }
        MultiTaskBatch {
            image: Tensor::from_data(TensorData::new(img, [b, 3, h, w]), device),
            targets,
            ids: items.iter().map(|i| i.id.clone()).collect(),
            original_sizes: items.iter().map(|i| i.original_size).collect(),
        }
    }
}

/// Batch order of one epoch: a seeded shuffle (Fisher–Yates with [`SplitMix64`]) or file
/// order, chunked, with the incomplete last batch dropped if `drop_last`.
pub fn epoch_batches(
    n: usize,
    batch_size: usize,
    shuffle: Option<(u64, u64)>,
    drop_last: bool,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    if let Some((seed, epoch)) = shuffle {
        let mut rng = SplitMix64::for_sample(seed, epoch, u64::MAX);
        for i in (1..n).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
    }
    order
        .chunks(batch_size.max(1))
        .filter(|c| !drop_last || c.len() == batch_size)
        .map(<[usize]>::to_vec)
        .collect()
}

/// Decode the items of one batch with `workers` threads (results in batch order).
pub fn load_batch(ds: &PascalDataset, indices: &[usize], workers: usize) -> Result<Vec<Processed>> {
    let workers = workers.clamp(1, indices.len().max(1));
    if workers == 1 {
        return indices.iter().map(|&i| ds.load(i)).collect();
    }
    let mut slots: Vec<Option<Result<Processed>>> = (0..indices.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let chunks: Vec<_> = slots.chunks_mut(indices.len().div_ceil(workers)).collect();
        let mut start = 0;
        for chunk in chunks {
            let idx = &indices[start..start + chunk.len()];
            start += chunk.len();
            s.spawn(move || {
                for (slot, &i) in chunk.iter_mut().zip(idx) {
                    *slot = Some(ds.load(i));
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.expect("every slot filled"))
        .collect()
}

/// Epoch-wise batches of a [`PascalDataset`]: seeded shuffling, `drop_last`, `workers` decode
/// threads per batch, and the epoch passed to the augmentation seed.
pub struct PascalLoader<'a> {
    dataset: &'a PascalDataset,
    batch_size: usize,
    workers: usize,
    shuffle_seed: Option<u64>,
    drop_last: bool,
}

impl<'a> PascalLoader<'a> {
    /// Training loader: shuffled by `seed`, incomplete last batch dropped.
    pub fn train(dataset: &'a PascalDataset, batch_size: usize, workers: usize, seed: u64) -> Self {
        Self {
            dataset,
            batch_size,
            workers,
            shuffle_seed: Some(seed),
            drop_last: true,
        }
    }

    /// Evaluation loader: file order, last batch kept.
    pub fn eval(dataset: &'a PascalDataset, batch_size: usize, workers: usize) -> Self {
        Self {
            dataset,
            batch_size,
            workers,
            shuffle_seed: None,
            drop_last: false,
        }
    }

    /// Number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size.max(1)
        } else {
            n.div_ceil(self.batch_size.max(1))
        }
    }

    /// Sets the dataset's augmentation epoch and returns the epoch's batches of indices.
    fn begin_epoch(&self, epoch: u64) -> Vec<Vec<usize>> {
        self.dataset.set_epoch(epoch);
        epoch_batches(
            self.dataset.len(),
            self.batch_size,
            self.shuffle_seed.map(|s| (s, epoch)),
            self.drop_last,
        )
    }

    /// The batches of `epoch`, decoded lazily one batch at a time onto `device`.
    pub fn epoch<'d>(
        &'d self,
        epoch: u64,
        device: &'d Device,
    ) -> impl Iterator<Item = Result<MultiTaskBatch>> + 'd {
        let order = self.begin_epoch(epoch);
        order.into_iter().map(move |idx| {
            let items = load_batch(self.dataset, &idx, self.workers)?;
            Ok(PascalBatcher.batch(items, device))
        })
    }

    /// The batches of `epoch` (same order and contents as [`Self::epoch`]), decoded one batch
    /// ahead on a background thread while `f` computes on the previous one. `f` returns
    /// `Ok(true)` to go on, `Ok(false)` to stop early; its first error stops the epoch and is
    /// returned.
    pub fn epoch_prefetched<E>(
        &self,
        epoch: u64,
        device: &Device,
        mut f: impl FnMut(Result<MultiTaskBatch>) -> std::result::Result<bool, E>,
    ) -> std::result::Result<(), E> {
        let order = self.begin_epoch(epoch);
        let (ds, workers) = (self.dataset, self.workers);
        std::thread::scope(|s| {
            // one decoded batch waiting + one being decoded
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Processed>>>(1);
            s.spawn(move || {
                for idx in order {
                    if tx.send(load_batch(ds, &idx, workers)).is_err() {
                        break; // the consumer stopped
                    }
                }
            });
            for items in rx {
                let batch = items.map(|items| PascalBatcher.batch(items, device));
                if !f(batch)? {
                    break;
                }
            }
            Ok(())
        })
    }
}
