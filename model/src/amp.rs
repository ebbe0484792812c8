//! bf16 mixed precision on CUDA (`-pr bf16-mixed`).
//!
//! tch's `autocast` switches CUDA autocast on but leaves its dtype at libtorch's default
//! (float16, which needs loss scaling). YourMT3 trains in bfloat16, so the dtype is set to
//! bfloat16 through libtorch's own `at::autocast::set_autocast_dtype`, which tch does not wrap.
//! The two functions take only one-byte enums (`c10::DeviceType`, `c10::ScalarType`), which the
//! C++ ABI passes as plain integers; this module is the only place the symbols are named.
#![allow(unsafe_code)]

use tch::Kind;

/// `c10::DeviceType::CUDA`.
const DEVICE_CUDA: i8 = 1;
/// `c10::ScalarType::BFloat16`.
const SCALAR_BF16: i8 = 15;
/// `c10::ScalarType::Half`.
const SCALAR_HALF: i8 = 5;

unsafe extern "C" {
    #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
    fn at_set_autocast_dtype(device: i8, dtype: i8);
    #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
    fn at_get_autocast_dtype(device: i8) -> i8;
}

/// The dtype CUDA autocast computes in.
pub fn cuda_autocast_kind() -> Option<Kind> {
    // SAFETY: a libtorch function taking and returning one-byte enums; no pointers.
    match unsafe { at_get_autocast_dtype(DEVICE_CUDA) } {
        SCALAR_BF16 => Some(Kind::BFloat16),
        SCALAR_HALF => Some(Kind::Half),
        _ => None,
    }
}

fn set_cuda_autocast_kind(kind: Kind) {
    let dtype = match kind {
        Kind::BFloat16 => SCALAR_BF16,
        _ => SCALAR_HALF,
    };
    // SAFETY: as above; libtorch stores the value in a global.
    unsafe { at_set_autocast_dtype(DEVICE_CUDA, dtype) }
}

/// Runs `f` with CUDA autocast in bfloat16 when `enabled` and CUDA is available; otherwise
/// runs it as it is (float32 on the CPU).
pub fn bf16_autocast<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    if !enabled || !tch::Cuda::is_available() {
        return f();
    }
    set_cuda_autocast_kind(Kind::BFloat16);
    tch::autocast(true, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The symbols resolve and the setting round-trips (no GPU needed: it is a global).
    #[test]
    fn the_autocast_dtype_can_be_set_to_bfloat16() {
        set_cuda_autocast_kind(Kind::BFloat16);
        assert_eq!(cuda_autocast_kind(), Some(Kind::BFloat16));
        set_cuda_autocast_kind(Kind::Half);
        assert_eq!(cuda_autocast_kind(), Some(Kind::Half));
        set_cuda_autocast_kind(Kind::BFloat16);
    }
}
