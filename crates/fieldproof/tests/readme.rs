//! The README's walkthrough, run as printed against a live demo server: the docs stay true.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_fieldproof");
const README: &str = include_str!("../../../README.md");

fn walkthrough() -> String {
    let start = README.find("<!-- walkthrough").expect("walkthrough marker");
    let rest = &README[start..];
    let open = rest.find("```bash\n").expect("bash block") + "```bash\n".len();
    let close = rest[open..].find("```").expect("end of block");
    rest[open..open + close].to_string()
}

#[test]
fn the_readme_walkthrough_works_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "fieldproof-data",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("server started").unwrap();
        if let Some(a) = line.strip_prefix("fieldproof listening on ") {
            break a.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let script = walkthrough();
    assert!(script.contains("FP=http://127.0.0.1:8080\n"));
    let script = script.replace("FP=http://127.0.0.1:8080\n", &format!("FP={base}\n"));
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../demo/examples/");
    let script = script.replace("demo/examples/", demo);
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "walkthrough failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "\"name\":\"WO-1042\"",
        "\"field_engineer_name\":\"Richard Roe\"",
        "\"count\":1",
        "equipment-after-intervention",
        "\"task_group_name\":\"equipment-after-intervention\"",
        "\"corrected_value\":0",
        "204\n{\"detail\":\"WorkOrder not found!\"}",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in walkthrough output:\n{stdout}"
        );
    }
}
