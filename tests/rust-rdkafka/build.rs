//! Copies the README's Rust examples (the fenced blocks after `<!-- readme-test: NAME -->`) into
//! `OUT_DIR/readme_NAME.rs`, so that tests/readme.rs compiles and runs them as written. Two edits
//! only: `fn main` becomes public, and the address `127.0.0.1:9092` becomes the test broker's.

use std::path::Path;

fn main() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let out = std::env::var("OUT_DIR").unwrap();
    for name in ["rust-client", "rust-in-process"] {
        let marker = format!("<!-- readme-test: {name} -->\n```rust\n");
        let start = text
            .find(&marker)
            .unwrap_or_else(|| panic!("README has no {name} block"))
            + marker.len();
        let end = start + text[start..].find("```").expect("an end of block");
        let code = text[start..end]
            .replace("fn main()", "pub fn main()")
            .replace("\"127.0.0.1:9092\"", "crate::bootstrap()");
        let file = Path::new(&out).join(format!("readme_{}.rs", name.replace('-', "_")));
        std::fs::write(file, code).unwrap();
    }
}
