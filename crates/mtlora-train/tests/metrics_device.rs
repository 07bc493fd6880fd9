//! The device-side label reduction of the evaluator (`mtlora-metrics`, feature `burn`) agrees
//! with the host meter's rule, on the backend the tests run.

use burn::tensor::{Device, Tensor, TensorData};
use mtlora_metrics::{first_argmax, first_max_labels};

#[test]
fn first_argmax_breaks_ties_like_the_host_meter() {
    let dims = [2, 5, 3, 4];
    let n: usize = dims.iter().product();
    // few distinct values: many ties, including all-equal pixels
    let mut v: Vec<f32> = (0..n).map(|i| ((i * 7919) % 3) as f32).collect();
    v[0] = f32::NAN;
    for c in 0..5 {
        v[c * 12 + 5] = 1.5; // pixel 5 of image 0: all channels tied
    }
    // the host meter's rule (`ConfusionMeter::update`)
    let want: Vec<i64> = first_max_labels(&v, dims)
        .into_iter()
        .map(|l| l as i64)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(v, dims), &Device::default());
    let got: Vec<i64> = first_argmax(x)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(got[5], 0, "all-tied pixel takes the first channel");
}
