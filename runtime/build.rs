//! Build script: creates the startup snapshot from the files in `../js/`.

#[path = "src/js_strip.rs"]
mod js_strip;
#[path = "src/snapshot_builder.rs"]
mod snapshot_builder;

use std::path::{Path, PathBuf};

fn main() {
    let js_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../js");
    println!("cargo:rerun-if-changed={}", js_dir.display());
    println!("cargo:rerun-if-changed=src/snapshot_builder.rs");
    println!("cargo:rerun-if-changed=src/js_strip.rs");
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(&js_dir) {
        Ok(dir) => dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "js"))
            .collect(),
        Err(e) => panic!("cannot read {}: {e}", js_dir.display()),
    };
    entries.sort();
    let mut files = Vec::new();
    for path in entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if !source.is_ascii() {
            panic!("js/{name} must be ASCII only");
        }
        // Comments and indentation would be copied into every isolate.
        files.push((name, js_strip::strip(&source)));
    }

    let platform = v8::new_default_platform(0, false).make_shared();
    v8::V8::initialize_platform(platform);
    v8::V8::initialize();
    let blob = snapshot_builder::build_snapshot(&files).unwrap_or_else(|e| panic!("startup snapshot failed:\n{e}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("snapshot.bin");
    std::fs::write(&out, blob).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
