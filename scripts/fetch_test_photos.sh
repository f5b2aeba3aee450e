#!/usr/bin/env bash
# Extract a few real photos for golden tests from the pinned scikit-image wheel (PyPI, via pip).
#
# Usage: scripts/fetch_test_photos.sh TARGET_DIR
#
# Writes into TARGET_DIR:
#   chelsea.png          a tabby cat      (MobileNetV2 top-1: 285 "Egyptian cat"; 281/282 also cat classes)
#   coffee.png           a cup of coffee  (top-1: 967 "espresso")
#   camera.png           grayscale photographer with a camera on a tripod (top-1: 872 "tripod")
#   motorcycle_left.png  a motorbike      (top-1: 665 "moped" or 670 "motor scooter", nearly tied)
#   expected.tsv         file, acceptable top-1 class indices, label of the first one
# Fails (non-zero exit, message on stderr) if pip fails, the sha256 differs, or a photo is missing.
# Needs: python3 with pip, sha256sum. Downloads nothing but the one pinned wheel (cached in
# $FIELDPROOF_MODEL_CACHE, default ~/.cache/fieldproof-models).
set -euo pipefail

die() { echo "fetch_test_photos: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 TARGET_DIR"
target=$1

SPEC="scikit-image==0.24.0"
WHEEL="scikit_image-0.24.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
SHA256="fa27b3a0dbad807b966b8db2d78da734cb812ca4787f7fbb143764800ce2fa9c"
PHOTOS="chelsea.png coffee.png camera.png motorcycle_left.png"

cache=${FIELDPROOF_MODEL_CACHE:-$HOME/.cache/fieldproof-models}
mkdir -p "$cache" "$target"

if [ ! -f "$cache/$WHEEL" ]; then
  python3 -m pip download --no-deps --quiet --only-binary=:all: \
    --python-version 3.11 --platform manylinux2014_x86_64 -d "$cache" "$SPEC" \
    || die "pip download $SPEC failed"
fi
[ -f "$cache/$WHEEL" ] || die "pip did not produce $cache/$WHEEL"
got=$(sha256sum "$cache/$WHEEL" | cut -d' ' -f1)
[ "$got" = "$SHA256" ] || die "sha256 mismatch for $WHEEL: got $got, pinned $SHA256"

python3 - "$cache/$WHEEL" "$target" $PHOTOS <<'PY' || die "extraction failed"
import sys, zipfile, pathlib
wheel, target, names = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    members = set(z.namelist())
    for n in names:
        m = f"skimage/data/{n}"
        if m not in members:
            sys.exit(f"{m} is not in {wheel}")
        data = z.read(m)
        if not data:
            sys.exit(f"{m} is empty")
        (target / n).write_bytes(data)
PY

printf 'file\ttop1_any_of\tlabel\n' > "$target/expected.tsv"
printf 'chelsea.png\t285,281,282\tEgyptian cat\n' >> "$target/expected.tsv"
printf 'coffee.png\t967\tespresso\n' >> "$target/expected.tsv"
printf 'camera.png\t872\ttripod\n' >> "$target/expected.tsv"
printf 'motorcycle_left.png\t665,670\tmoped\n' >> "$target/expected.tsv"

for n in $PHOTOS; do
  [ -s "$target/$n" ] || die "missing $target/$n"
done
echo "fetch_test_photos: wrote $PHOTOS expected.tsv to $target"
