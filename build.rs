//! With the Python bindings on, sets pyo3's cfgs for the interpreter being built for, so that
//! `#[cfg(Py_GIL_DISABLED)]` marks the free-threaded build (`src/python/objects.rs`, `GcPaused`).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "python")]
    pyo3_build_config::use_pyo3_cfgs();
    #[cfg(not(feature = "python"))]
    println!("cargo:rustc-check-cfg=cfg(Py_GIL_DISABLED)");
}
