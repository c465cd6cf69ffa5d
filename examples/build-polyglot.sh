#!/usr/bin/env bash
# Builds the Python and JavaScript example providers (examples/python-grid, examples/js-inventory)
# into components, with pinned toolchains installed under the target directory:
#
#   componentize-py 0.25.1         in a virtual environment (PyPI)
#   componentize-js 0.23.0         through npm, versions fixed by examples/js-inventory/package-lock.json
#
# Output, in $CARBONAUT_POLYGLOT_DIR (default: ${CARGO_TARGET_DIR:-target}/polyglot):
#   python-grid.wasm, js-inventory.wasm    what host/tests/all/polyglot.rs loads
#   venv/bin/componentize-py               the Python toolchain (the tests build skeletons with it)
#   js-tools/node_modules/.bin/componentize-js
#
# It also runs examples/aws-venv.sh: moto[server] and botocore, pinned, in
# ${CARGO_TARGET_DIR:-target}/aws-venv, for the aws plugin's tests.
#
# A component is rebuilt only when its sources, the WIT or the toolchain changed (a stamp file
# holds their sha256), so running this again costs seconds. Needs python3 (with venv) and npm,
# and access to PyPI and the npm registry the first time.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
OUT="${CARBONAUT_POLYGLOT_DIR:-$TARGET/polyglot}"
COMPONENTIZE_PY="componentize-py==0.25.1"
COMPONENTIZE_JS_VERSION="0.23.0"

fail() {
  echo "build-polyglot: $*" >&2
  exit 1
}

for tool in python3 npm node sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || fail "\`$tool\` is not installed (apt-get install python3-venv npm)"
done
mkdir -p "$OUT/build"

# The sha256 of a list of files and of a string, for the stamps.
digest() {
  local extra="$1"
  shift
  { printf '%s\n' "$extra"; cat "$@"; } | sha256sum | cut -d' ' -f1
}

seconds_since() {
  python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$1"
}

# --- toolchains -----------------------------------------------------------------------------

PY_TOOL="$OUT/venv/bin/componentize-py"
if ! "$PY_TOOL" --version 2>/dev/null | grep -q "${COMPONENTIZE_PY#*==}"; then
  started=$(date +%s.%N)
  rm -rf "$OUT/venv"
  python3 -m venv "$OUT/venv" || fail "python3 -m venv failed (apt-get install python3-venv)"
  if ! "$OUT/venv/bin/pip" install --quiet --disable-pip-version-check "$COMPONENTIZE_PY"; then
    fail "cannot install $COMPONENTIZE_PY from PyPI (is the registry reachable?); rerun examples/build-polyglot.sh"
  fi
  echo "build-polyglot: installed $COMPONENTIZE_PY in $(seconds_since "$started") s"
fi

JS_TOOLS="$OUT/js-tools"
JS_TOOL="$JS_TOOLS/node_modules/.bin/componentize-js"
lock_sum=$(digest "" "$ROOT/examples/js-inventory/package.json" "$ROOT/examples/js-inventory/package-lock.json")
if [ ! -x "$JS_TOOL" ] || [ "$(cat "$JS_TOOLS/.lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
  started=$(date +%s.%N)
  rm -rf "$JS_TOOLS"
  mkdir -p "$JS_TOOLS"
  cp "$ROOT/examples/js-inventory/package.json" "$ROOT/examples/js-inventory/package-lock.json" "$JS_TOOLS/"
  # `npm install` on a copy, not `npm ci`: npm 11 refuses this lock in `ci` for optional
  # packages of other platforms that it never records, though it installs exactly the locked
  # versions here. The version check below holds it to the pin.
  if ! (cd "$JS_TOOLS" && npm install --no-audit --no-fund --no-save --loglevel=error); then
    fail "cannot install componentize-js from the npm registry (is it reachable?); rerun examples/build-polyglot.sh"
  fi
  installed=$(node -p "require('$JS_TOOLS/node_modules/@bytecodealliance/componentize-js/package.json').version")
  [ "$installed" = "$COMPONENTIZE_JS_VERSION" ] ||
    fail "npm installed componentize-js $installed, not the pinned $COMPONENTIZE_JS_VERSION"
  echo "$lock_sum" >"$JS_TOOLS/.lock-sha256"
  echo "build-polyglot: installed componentize-js $installed in $(seconds_since "$started") s"
fi

# --- components -----------------------------------------------------------------------------

wit_files=("$ROOT"/wit/0.2.0/*.wit "$ROOT"/wit/0.2.0/deps/*.wit)

# build NAME STAMP_INPUTS... -- COMMAND...: runs COMMAND in $OUT/build/NAME (a fresh copy of
# examples/NAME plus wit/) unless the stamp says NAME.wasm is up to date.
build() {
  local name="$1"
  shift
  local inputs=()
  while [ "$1" != "--" ]; do
    inputs+=("$1")
    shift
  done
  shift
  local sum
  sum=$(digest "$COMPONENTIZE_PY $COMPONENTIZE_JS_VERSION $*" "${inputs[@]}" "${wit_files[@]}")
  if [ -f "$OUT/$name.wasm" ] && [ "$(cat "$OUT/$name.stamp" 2>/dev/null)" = "$sum" ]; then
    echo "build-polyglot: $name.wasm is up to date"
    return
  fi
  local dir="$OUT/build/$name"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -r "$ROOT/examples/$name/." "$dir/"
  # componentize-js reads the WIT only below the current directory; both get the same copy.
  rm -rf "$dir/wit" "$dir/node_modules"
  cp -r "$ROOT/wit/0.2.0" "$dir/wit"
  local started
  started=$(date +%s.%N)
  if ! (cd "$dir" && "$@" -o "$OUT/.$name.wasm.tmp"); then
    fail "building $name failed (see above)"
  fi
  mv "$OUT/.$name.wasm.tmp" "$OUT/$name.wasm"
  echo "$sum" >"$OUT/$name.stamp"
  echo "build-polyglot: built $name.wasm ($(stat -c %s "$OUT/$name.wasm") bytes) in $(seconds_since "$started") s"
}

export PYTHONDONTWRITEBYTECODE=1
build python-grid "$ROOT/examples/python-grid/app.py" "$ROOT/examples/python-grid/grid.json" -- \
  "$PY_TOOL" -d wit -w environment-provider componentize app
build js-inventory "$ROOT/examples/js-inventory/app.js" "$JS_TOOLS/.lock-sha256" -- \
  "$JS_TOOL" app.js --wit wit --world-name discovery-provider

echo "build-polyglot: components in $OUT"

# The aws plugin's emulator and reference signer (not a component, but the same kind of pinned
# Python tooling the tests need).
"$ROOT/examples/aws-venv.sh"
