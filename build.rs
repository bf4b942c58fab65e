//! Link settings for the `failover-agent` binary.
//!
//! On Linux with glibc, its relative relocations are packed (`DT_RELR`, glibc 2.36+;
//! the image's distroless base is Debian 12, glibc 2.36): 33,000 of them took 780 KiB
//! of `.rela.dyn` that the loader reads at every start, so that every replica kept
//! them resident. Packed they take a few KiB. The binary stays position-independent.
//!
//! In release builds for x86_64 Linux, where rustc links with its bundled LLD by
//! default, the functions a replica runs are laid out together at the start of
//! `.text`, in the order `link/hot-symbols.txt` lists them. The kernel maps code in
//! 64 KiB windows around each page a process touches, so code a replica runs,
//! scattered over the whole of `.text`, kept almost all of it resident (9 of 10.6 MiB)
//! though it runs 1.9 MiB of it. The list is made by `bench/hot_symbols.py` and only
//! moves code: a name it lists that the binary no longer has is skipped, so a stale
//! list costs memory, never correctness. Other targets (aarch64 links with the system
//! `ld`, which has no such option) build without it.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("link/hot-symbols.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    let lld_by_default = var("TARGET") == "x86_64-unknown-linux-gnu";
    if var("PROFILE") == "release" && lld_by_default && order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
