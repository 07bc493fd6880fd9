//! Class tables of PASCAL_MT (dataset.md §4).

/// The 170 PASCAL-Context ids whose normals are valid (NYU ∩ Context minus "unknown", plus
/// tvmonitor 427).
pub const NORMAL_VALID_CONTEXT_IDS: [u16; 170] = [
    3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38, 39, 41, 43, 46, 49, 50,
    51, 53, 55, 56, 59, 61, 62, 65, 66, 68, 69, 72, 73, 78, 83, 84, 85, 87, 88, 95, 96, 101, 104,
    105, 107, 111, 113, 115, 122, 124, 135, 141, 142, 143, 146, 150, 154, 157, 158, 159, 165, 172,
    174, 181, 183, 184, 191, 193, 195, 197, 199, 202, 213, 215, 216, 219, 220, 223, 225, 228, 230,
    232, 233, 238, 239, 242, 243, 246, 250, 251, 252, 255, 260, 261, 263, 269, 272, 273, 275, 281,
    283, 284, 285, 286, 287, 288, 290, 291, 292, 293, 295, 304, 307, 309, 310, 314, 315, 319, 323,
    329, 330, 331, 336, 342, 345, 349, 350, 351, 352, 355, 357, 368, 370, 371, 374, 379, 380, 383,
    384, 397, 401, 403, 405, 407, 408, 411, 412, 413, 414, 417, 419, 421, 423, 427, 429, 430, 432,
    440, 441, 442, 443, 444, 446, 454, 457,
];

/// Whether normals are valid on a PASCAL-Context id.
pub fn normal_valid(id: f64) -> bool {
    id >= 0.0
        && id.fract() == 0.0
        && id <= u16::MAX as f64
        && NORMAL_VALID_CONTEXT_IDS.binary_search(&(id as u16)).is_ok()
}

/// VOC class index of "person".
pub const PERSON: i64 = 15;

/// 6-part grouping of the PASCAL-Part person part names (1..6), `None` for unknown names.
pub fn part_group(name: &str) -> Option<u8> {
    Some(match name {
        "hair" | "head" | "lear" | "rear" | "lebrow" | "rebrow" | "leye" | "reye" | "mouth"
        | "nose" => 1,
        "neck" | "torso" => 2,
        "luarm" | "ruarm" => 3,
        "llarm" | "rlarm" | "lhand" | "rhand" => 4,
        "luleg" | "ruleg" => 5,
        "llleg" | "rlleg" | "lfoot" | "rfoot" => 6,
        _ => return None,
    })
}

/// All 24 part names, in group order.
pub const PART_NAMES: [&str; 24] = [
    "hair", "head", "lear", "rear", "lebrow", "rebrow", "leye", "reye", "mouth", "nose", "neck",
    "torso", "luarm", "ruarm", "llarm", "rlarm", "lhand", "rhand", "luleg", "ruleg", "llleg",
    "rlleg", "lfoot", "rfoot",
];

/// The model outputs a PASCAL_MT task needs: one logit per class (semseg, human parts), one
/// saliency logit, three normal components; `None` for tasks PASCAL_MT has no labels for.
pub fn outputs_for(task: crate::Task) -> Option<usize> {
    match task {
        crate::Task::Semseg => Some(VOC_CLASSES.len()),
        crate::Task::HumanParts => Some(7),
        crate::Task::Sal => Some(1),
        crate::Task::Normals => Some(3),
        _ => None,
    }
}

/// The 21 semantic-segmentation class names.
pub const VOC_CLASSES: [&str; 21] = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert!(NORMAL_VALID_CONTEXT_IDS.windows(2).all(|w| w[0] < w[1]));
        for id in [158.0, 440.0, 284.0, 427.0, 68.0, 59.0, 72.0] {
            assert!(normal_valid(id), "{id}");
        }
        for id in [2.0, 25.0, 360.0, 31.0, 45.0, 0.0, 431.0] {
            assert!(!normal_valid(id), "{id}");
        }
        assert!(PART_NAMES.iter().all(|n| part_group(n).is_some()));
        assert_eq!(part_group("lfoot"), Some(6));
        assert_eq!(part_group("tail"), None);
    }
}
