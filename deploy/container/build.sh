#!/usr/bin/env bash
# Builds the container image of deploy/Containerfile from a carbonaut binary already built,
# without pulling anything: the context holds the binary, the shared libraries `ldd` lists
# for it (copied to the same paths, so its interpreter and libc come along), the plugins,
# a default config and passwd/group entries for uid 65532.
#
#   deploy/container/build.sh [BINARY] [TAG]     (defaults: target/release/carbonaut, carbonaut:0.1.0)
#
# Uses buildah (Debian: apt-get install buildah). BUILDAH_ARGS adds global options, for
# example "--storage-driver vfs --root DIR --runroot DIR" where overlay mounts are not allowed.
set -euo pipefail
cd "$(dirname "$0")/../.."

binary=${1:-target/release/carbonaut}
tag=${2:-carbonaut:0.1.0}
plugins=target/plugins
context=target/container-context

[ -x "$binary" ] || { echo "no carbonaut binary at $binary: run cargo build --release first" >&2; exit 1; }
ls "$plugins"/*.wasm >/dev/null 2>&1 || { echo "no plugins in $plugins: cargo build compiles them" >&2; exit 1; }

rm -rf "$context"
root=$context/rootfs
mkdir -p "$root/usr/bin" "$root/plugins" "$root/etc/carbonaut" "$root/tmp" "$context/state"
chmod 1777 "$root/tmp"
# Stripped: the image needs no debug info.
strip -o "$root/usr/bin/carbonaut" "$binary"
cp "$plugins"/*.wasm "$root/plugins/"
cp deploy/container/carbonaut.toml "$root/etc/carbonaut/carbonaut.toml"
printf 'root:x:0:0:root:/:/sbin/nologin\ncarbonaut:x:65532:65532:carbonaut:/var/lib/carbonaut:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\ncarbonaut:x:65532:\n' >"$root/etc/group"

# Every library the dynamic loader resolves, and the loader itself ("=> /path" or a bare
# absolute path in ldd's output). A static binary has none.
libs=$(ldd "$root/usr/bin/carbonaut" 2>/dev/null | grep -o '/[^ ]*' || true)
for lib in $libs; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
echo "context: $(du -sh "$context" | cut -f1), libraries: $(echo $libs | wc -w)"

# shellcheck disable=SC2086 # BUILDAH_ARGS is a list of options
buildah ${BUILDAH_ARGS:-} bud --quiet --layers=false -f deploy/Containerfile -t "$tag" "$context"
