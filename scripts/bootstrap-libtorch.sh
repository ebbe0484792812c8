#!/usr/bin/env bash
# Installs the CPU part of libtorch 2.11.0 into third_party/libtorch (git-ignored),
# taken from PyPI wheels, because PyPI is the only reachable host that carries it.
#
#   torch 2.11.0 (cp311 manylinux_2_28 wheel) -> lib/{libtorch_cpu,libtorch,libc10}.so, include/
#   nvidia-cuda-runtime 13.0.96               -> lib/libcudart.so.13  (libtorch_cpu links it)
#   nvidia-cuda-cupti 13.0.85                 -> lib/libcupti.so.13   (libtorch_cpu links it)
#
# The versions are those `cuda-toolkit==13.0.2` pins; every wheel is checked by sha256 before
# anything is unpacked. Wheels are cached in $AMT_WHEEL_CACHE (default ~/.cache/amt/wheels).
#
# Skipped when the user brings their own libtorch: LIBTORCH=/path or LIBTORCH_USE_PYTORCH=1
# (see README "GPU set-up"). Gloo's headers come from scripts/bootstrap-gloo.sh, run first.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/third_party/libtorch"
stamp="$dest/.amt-bootstrap-v1"

# Gloo's headers, for the data-parallel shim in dist/ (whatever libtorch is used).
bash "$root/scripts/bootstrap-gloo.sh"

if [[ -n "${LIBTORCH_USE_PYTORCH:-}" ]]; then
  exit 0
fi
if [[ -n "${LIBTORCH:-}" && "$(realpath -m "$LIBTORCH")" != "$(realpath -m "$dest")" ]]; then
  if [[ ! -d "$LIBTORCH/lib" ]]; then
    echo "error: LIBTORCH=$LIBTORCH has no lib/ folder" >&2
    echo "hint: unset LIBTORCH to let amt install the CPU libtorch, or point it at a libtorch 2.11 folder" >&2
    exit 1
  fi
  exit 0
fi
if [[ -f "$stamp" ]]; then
  exit 0
fi

cache="${AMT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/amt/wheels}"
mkdir -p "$cache"

# name==version  file  sha256
wheels=(
  "torch==2.11.0 torch-2.11.0-cp311-cp311-manylinux_2_28_x86_64.whl 7aa2f9bbc6d4595ba72138026b2074be1233186150e9292865e04b7a63b8c67a"
  "nvidia-cuda-runtime==13.0.96 nvidia_cuda_runtime-13.0.96-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl 7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
  "nvidia-cuda-cupti==13.0.85 nvidia_cuda_cupti-13.0.85-py3-none-manylinux_2_25_x86_64.whl 4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8"
)

sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

for entry in "${wheels[@]}"; do
  read -r req file sha <<<"$entry"
  if sha_ok "$cache/$file" "$sha"; then
    continue
  fi
  echo "amt: downloading $req from PyPI (once; cached in $cache)" >&2
  rm -f "$cache/$file"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_25_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --dest "$cache" "$req"
  if ! sha_ok "$cache/$file" "$sha"; then
    got="$( [[ -f "$cache/$file" ]] && sha256sum "$cache/$file" | cut -d' ' -f1 || echo 'no file')"
    echo "error: $file does not match its pinned sha256 (expected $sha, got $got)" >&2
    echo "hint: delete $cache/$file and run again; if it persists, the index serves a different build" >&2
    rm -f "$cache/$file"
    exit 1
  fi
done

# Unpack into a temporary sibling, then rename: an interrupted bootstrap never leaves a
# half libtorch that cargo would try to link.
tmp="$(mktemp -d "$root/third_party/.libtorch.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$root/third_party"; mktemp -d "$root/third_party/.libtorch.tmp.XXXXXX"; })"
trap 'rm -rf "$tmp"' EXIT
echo "amt: unpacking libtorch (CPU) into third_party/libtorch" >&2
python3 - "$cache" "$tmp" <<'EOF'
import os, shutil, sys, zipfile
cache, out = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(out, "lib"))
keep_libs = {"libtorch_cpu.so", "libtorch.so", "libc10.so", "libgomp.so.1", "libshm.so"}

def copy(z, name, dest):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with z.open(name) as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)

with zipfile.ZipFile(os.path.join(cache, "torch-2.11.0-cp311-cp311-manylinux_2_28_x86_64.whl")) as z:
    for name in z.namelist():
        if name.endswith("/"):
            continue
        if name.startswith("torch/include/"):
            copy(z, name, os.path.join(out, "include", name[len("torch/include/"):]))
        elif name.startswith("torch/lib/") and os.path.basename(name) in keep_libs:
            copy(z, name, os.path.join(out, "lib", os.path.basename(name)))
    version = [l for l in z.read("torch/version.py").decode().splitlines() if l.startswith("__version__")][0]
    with open(os.path.join(out, "build-version"), "w") as f:
        f.write(version.split("=")[1].strip().strip("'\"") + "\n")
for wheel, lib in [
    ("nvidia_cuda_runtime-13.0.96-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", "libcudart.so.13"),
    ("nvidia_cuda_cupti-13.0.85-py3-none-manylinux_2_25_x86_64.whl", "libcupti.so.13"),
]:
    with zipfile.ZipFile(os.path.join(cache, wheel)) as z:
        copy(z, "nvidia/cu13/lib/" + lib, os.path.join(out, "lib", lib))
for lib in ("libtorch_cpu.so", "libtorch.so", "libc10.so", "libcudart.so.13", "libcupti.so.13"):
    if not os.path.isfile(os.path.join(out, "lib", lib)):
        sys.exit(f"error: {lib} missing after unpacking")
EOF
date -u +%Y-%m-%dT%H:%M:%SZ > "$tmp/.amt-bootstrap-v1"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "amt: libtorch $(cat "$dest/build-version") ready in third_party/libtorch" >&2
