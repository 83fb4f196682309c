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
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    let js_out = out_dir.join("js");
    std::fs::create_dir_all(&js_out).unwrap_or_else(|e| panic!("cannot create {}: {e}", js_out.display()));
    let mut files: Vec<snapshot_builder::RuntimeSource> = Vec::new();
    let mut table = String::from("/// The runtime's sources as the snapshot was built from them (`build.rs`).\n");
    table.push_str("pub static RUNTIME_SOURCES: &[crate::snapshot_builder::RuntimeSource] = &[\n");
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
        // Comments and indentation would only make the binary bigger, and
        // V8 scan more text at each lazy compile.
        let wrapped = format!(
            "{}{}{}",
            snapshot_builder::WRAPPER_HEAD,
            js_strip::strip(&source),
            snapshot_builder::WRAPPER_TAIL
        );
        let target = js_out.join(&name);
        std::fs::write(&target, &wrapped).unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
        table.push_str(&format!(
            "    ({name:?}, &v8::String::create_external_onebyte_const(include_bytes!({:?}))),\n",
            target.display().to_string()
        ));
        // The snapshot builder needs the text for the life of the process,
        // as the runtime has it in its binary.
        let text: &'static [u8] = Box::leak(wrapped.into_bytes().into_boxed_slice());
        let resource: &'static v8::OneByteConst = Box::leak(Box::new(v8::String::create_external_onebyte_const(text)));
        files.push((Box::leak(name.into_boxed_str()), resource));
    }
    table.push_str("];\n");
    let table_path = out_dir.join("runtime_sources.rs");
    std::fs::write(&table_path, table).unwrap_or_else(|e| panic!("cannot write {}: {e}", table_path.display()));

    // Diagnosis, e.g. `--serialization-statistics` to see what the snapshot holds.
    println!("cargo:rerun-if-env-changed=ISLET_SNAPSHOT_V8_FLAGS");
    if let Ok(flags) = std::env::var("ISLET_SNAPSHOT_V8_FLAGS") {
        v8::V8::set_flags_from_string(&flags);
    }
    let platform = v8::new_default_platform(0, false).make_shared();
    v8::V8::initialize_platform(platform);
    v8::V8::initialize();
    let blob = snapshot_builder::build_snapshot(&files).unwrap_or_else(|e| panic!("startup snapshot failed:\n{e}"));
    let out = out_dir.join("snapshot.bin");
    std::fs::write(&out, blob).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
