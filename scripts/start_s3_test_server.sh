#!/usr/bin/env bash
# An S3-compatible server for tests: moto, pinned, from PyPI, in a venv under target/.
#
#   scripts/start_s3_test_server.sh --install   installs it (once; quick when already there)
#   scripts/start_s3_test_server.sh PORT        installs it if needed, then runs it in the
#                                               foreground on 127.0.0.1:PORT (this process
#                                               becomes the server: kill it to stop it)
#
# The S3 blob test (crates/blobs/tests/s3.rs) calls the second form on a free port and kills
# the server when it is done; .ci/run may call --install first so that the download, if any,
# is not counted against the test's start-up wait.
#
# Why moto: it is on PyPI (a registry CI reaches), runs without root or a data directory, and
# speaks path-style S3 with SigV4 over plain HTTP. MinIO ships no registry package usable here.
set -euo pipefail

MOTO_VERSION=5.2.1
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${FIELDPROOF_S3_SERVER_DIR:-$root/target/s3-test-server}"
venv="$dir/venv"
mkdir -p "$dir"

install() {
  # --system-site-packages: a moto already installed for this Python (the same pin) is reused
  # instead of downloaded again.
  if "$venv/bin/python" - "$MOTO_VERSION" 2>/dev/null <<'PY'
import sys, moto, flask, flask_cors  # the [server] extra
sys.exit(moto.__version__ != sys.argv[1])
PY
  then
    return 0
  fi
  echo "installing moto[server]==$MOTO_VERSION into $venv" >&2
  python3 -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" >&2
}

# Two tests starting at once must not build the venv twice.
exec 9>"$dir/install.lock"
flock 9
install
flock -u 9
exec 9>&-

case "${1:-}" in
  --install) exit 0 ;;
  ''|*[!0-9]*) echo "usage: $0 --install | PORT" >&2; exit 2 ;;
esac
exec "$venv/bin/python" -m moto.server -H 127.0.0.1 -p "$1"
