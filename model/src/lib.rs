//! libtorch (tch) code: the audio front-end shared by the shards and the model, `.npy` files,
//! and the facts `amt doctor` reports about the libtorch amt runs against.

pub mod amp;
pub mod checkpoint;
pub mod config;
pub mod conformer;
pub mod ffn;
pub mod frontend;
pub mod npy;
pub mod optim;
pub mod perceiver;
pub mod pickle;
pub mod position;
pub mod stream;
pub mod syncbn;
pub mod t5;
pub mod torch_ckpt;
pub mod ymt3;

use serde::Serialize;

/// What libtorch amt is linked against and what it can use.
#[derive(Debug, Clone, Serialize)]
pub struct TorchRuntime {
    /// The version of the libtorch folder at build time (its `build-version` file).
    pub libtorch_version: String,
    /// The folder the binary's rpath points at.
    pub libtorch_lib: String,
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn_available: bool,
    pub threads: i32,
}

/// Queries libtorch (this loads it: a broken install fails here, not in training).
pub fn torch_runtime() -> TorchRuntime {
    TorchRuntime {
        libtorch_version: env!("AMT_LIBTORCH_BUILD_VERSION").to_string(),
        libtorch_lib: env!("AMT_LIBTORCH_LIB").to_string(),
        cuda_available: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        threads: tch::get_num_threads(),
    }
}

/// A tiny computation, to prove the library does more than load.
pub fn smoke_test() -> f64 {
    let t = tch::Tensor::from_slice(&[1.0f64, 2.0, 3.0]);
    (&t * &t).sum(tch::Kind::Double).double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_loads_and_computes() {
        assert_eq!(smoke_test(), 14.0);
        let rt = torch_runtime();
        assert!(rt.threads >= 1);
        assert!(rt.cuda_devices >= 0);
    }
}
