//! Finds the libtorch that torch-sys linked, gives our own test binaries an rpath to it, and
//! passes the folder on to dependents (see `amt_build_rpath` in pipeline/ and tests/).
fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default();
    if !lib.is_empty() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:libtorch_lib={lib}");
        let version = std::path::Path::new(&lib).join("..").join("build-version");
        println!("cargo:rerun-if-changed={}", version.display());
        let v = std::fs::read_to_string(&version).unwrap_or_default();
        println!("cargo:rustc-env=AMT_LIBTORCH_BUILD_VERSION={}", v.trim());
        println!("cargo:rustc-env=AMT_LIBTORCH_LIB={lib}");
    } else {
        println!("cargo:rustc-env=AMT_LIBTORCH_BUILD_VERSION=");
        println!("cargo:rustc-env=AMT_LIBTORCH_LIB=");
    }
}
