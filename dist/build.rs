//! Compiles `shim/c10d.cpp` against the headers of the libtorch that torch-sys linked, with
//! Gloo's headers when they are found (`AMT_GLOO_INCLUDE`, else `third_party/gloo/include`
//! of the workspace, which `scripts/bootstrap-libtorch.sh` fills, else `/usr/include`).
//! Without them the shim still builds, and creating a process group says how to get them.
use std::path::{Path, PathBuf};

fn gloo_include(workspace: &Path) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("AMT_GLOO_INCLUDE").map(PathBuf::from),
        Some(workspace.join("third_party/gloo/include")),
        Some(PathBuf::from("/usr/include")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("gloo/algorithm.h").is_file())
}

fn main() {
    println!("cargo:rerun-if-changed=shim/c10d.cpp");
    println!("cargo:rerun-if-env-changed=AMT_GLOO_INCLUDE");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest
        .parent()
        .expect("dist/ sits in the workspace")
        .to_path_buf();
    println!(
        "cargo:rerun-if-changed={}",
        workspace
            .join("third_party/gloo/include/gloo/algorithm.h")
            .display()
    );
    let lib = PathBuf::from(std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default());
    let include = lib.join("..").join("include");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("shim/c10d.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false);
    match gloo_include(&workspace) {
        Some(dir) => {
            build.include(&dir).define("USE_C10D_GLOO", None);
        }
        None => println!(
            "cargo:warning=Gloo's headers were not found: amt builds without data-parallel training (run scripts/bootstrap-libtorch.sh)"
        ),
    }
    build.compile("amt_c10d");
    // The shim calls into libtorch_cpu and c10; name them after the static library.
    if !lib.as_os_str().is_empty() {
        println!("cargo:rustc-link-search=native={}", lib.display());
        // Our own test binaries find libtorch without LD_LIBRARY_PATH.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
