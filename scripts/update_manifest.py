#!/usr/bin/env python3
"""Refresh the sha256 of every model in models/manifest.toml from the files on disk.

Each `[[models]]` entry's `sha256 = "..."` line is rewritten with the hash of the file named by its
`file = "..."` line (relative to the manifest); nothing else in the file changes.
With --check, exits 1 (and changes nothing) when a hash is stale or a file is missing.

Usage: python3 scripts/update_manifest.py [--check] [models/manifest.toml]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fieldproof_models as fm  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", type=Path, nargs="?", default=fm.MODELS / "manifest.toml")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    lines = args.manifest.read_text().splitlines(keepends=True)
    current_file: Path | None = None
    stale = []
    for i, line in enumerate(lines):
        if line.strip() == "[[models]]":
            current_file = None
        m = re.match(r'\s*file\s*=\s*"([^"]+)"', line)
        if m:
            current_file = args.manifest.parent / m.group(1)
        m = re.match(r'(\s*sha256\s*=\s*")([0-9a-fA-F<>a-z]*)(".*)', line, re.S)
        if m and current_file is not None:
            if not current_file.exists():
                raise SystemExit(f"{current_file} does not exist")
            digest = fm.sha256_file(current_file)
            if m.group(2) != digest:
                stale.append(f"{current_file.name}: {m.group(2)} -> {digest}")
                lines[i] = m.group(1) + digest + m.group(3)
    for s in stale:
        print(s)
    if args.check:
        sys.exit(1 if stale else 0)
    args.manifest.write_text("".join(lines))
    print(f"{args.manifest}: {len(stale)} hash(es) updated")


if __name__ == "__main__":
    main()
