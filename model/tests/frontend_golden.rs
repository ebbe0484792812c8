//! The front-end against golden values computed independently (numpy FFT and the HTK filter
//! bank from its formula, `tests/golden/make_frontend.py`): noise with tones, and real audio
//! (the babyslakh fixture's mix), both codecs. Bound: 1e-4 after normalisation.

use amt_model::frontend::{Codec, FrontEnd};
use amt_model::npy;
use tch::{Device, Tensor};

fn golden(name: &str) -> (Vec<usize>, Vec<f32>) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    npy::read::<f32>(&p).unwrap()
}

#[test]
fn both_codecs_match_an_independent_computation() {
    let (shape, input) = golden("frontend_input.npy");
    let wave = Tensor::from_slice(&input).view([shape[0] as i64, shape[1] as i64]);
    for (codec, file) in [
        (Codec::Melspec, "frontend_melspec.npy"),
        (Codec::Spec, "frontend_spec.npy"),
    ] {
        let (gshape, want) = golden(file);
        let fe = FrontEnd::new(codec, codec.default_hop(), Device::Cpu);
        let got = fe.forward(&wave);
        let got_shape: Vec<usize> = got.size().iter().map(|&d| d as usize).collect();
        assert_eq!(got_shape, gshape, "{codec:?}");
        let got: Vec<f32> = Vec::<f32>::try_from(got.flatten(0, -1)).unwrap();
        let max_err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max_err <= 1e-4, "{codec:?}: max abs error {max_err}");
    }
}
