#!/usr/bin/env bash
# Installs what the aws plugin's tests run, pinned, in a virtual environment under the target
# directory ($CARBONAUT_AWS_VENV, default ${CARGO_TARGET_DIR:-target}/aws-venv):
#
#   moto[server] 5.2.5       moto_server, the AWS emulator host/tests/all/aws.rs starts on loopback
#   boto3/botocore 1.44.18   seeding the emulator, and the SigV4 signatures the plugin's own
#                            test (plugins/aws/src/botocore_tests.rs) compares with its signer's
#
# Does nothing when the pinned versions are already there. examples/build-polyglot.sh runs it,
# so the README's test command sets it up. Needs python3 with venv and PyPI the first time.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
VENV="${CARBONAUT_AWS_VENV:-$TARGET/aws-venv}"
MOTO_VERSION="5.2.5"
BOTO_VERSION="1.44.18"

fail() {
  echo "aws-venv: $*" >&2
  exit 1
}

pinned() {
  "$VENV/bin/python" - "$MOTO_VERSION" "$BOTO_VERSION" 2>/dev/null <<'PY'
import sys
import boto3, botocore, flask, moto
sys.exit(0 if (moto.__version__, botocore.__version__, boto3.__version__) == (sys.argv[1], sys.argv[2], sys.argv[2]) else 1)
PY
}

if pinned && [ -x "$VENV/bin/moto_server" ]; then
  echo "aws-venv: moto $MOTO_VERSION and botocore $BOTO_VERSION are installed in $VENV"
  exit 0
fi
command -v python3 >/dev/null 2>&1 || fail "\`python3\` is not installed (apt-get install python3-venv)"
started=$(date +%s)
rm -rf "$VENV"
python3 -m venv "$VENV" || fail "python3 -m venv failed (apt-get install python3-venv)"
if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check \
  "moto[server]==$MOTO_VERSION" "boto3==$BOTO_VERSION" "botocore==$BOTO_VERSION"; then
  fail "cannot install moto[server]==$MOTO_VERSION and botocore==$BOTO_VERSION from PyPI (is the registry reachable?); rerun examples/aws-venv.sh"
fi
pinned || fail "the venv in $VENV does not hold the pinned versions after installing them"
echo "aws-venv: installed moto[server] $MOTO_VERSION and botocore $BOTO_VERSION in $VENV in $(($(date +%s) - started)) s"
