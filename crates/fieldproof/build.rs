//! Embeds the demo application's example photos (demo/examples/*) so that `serve --demo` works
//! from any directory: the generated file lists `(file name, bytes)` pairs.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/examples");
    println!("cargo:rerun-if-changed={}", dir.display());
    // The parent too: when examples/ did not exist at the first build, its appearance changes
    // demo/'s modification time, not the (missing) directory's, and cargo would keep the empty
    // list.
    println!("cargo:rerun-if-changed={}", dir.parent().unwrap().display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from("/// Demo example photos: (file name relative to demo/, bytes).\npub const EXAMPLES: &[(&str, &[u8])] = &[\n");
    for f in files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_string_lossy();
        let abs = f.canonicalize().unwrap();
        writeln!(
            out,
            "    (\"examples/{name}\", include_bytes!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("demo_examples.rs");
    std::fs::write(target, out).unwrap();
}
