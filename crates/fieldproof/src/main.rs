//! The `fieldproof` binary; everything lives in the library next to it.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    fieldproof::main()
}
