#!/usr/bin/env bash
# Installs Gloo's C++ headers into third_party/gloo/include (git-ignored). The shim in dist/
# compiles libtorch's ProcessGroupGloo header, which includes Gloo's; the PyTorch wheel carries
# Gloo's library code (inside libtorch_cpu) but not its headers. Debian's libgloo-dev has them:
# it is downloaded (no root needed: `apt-get download`, else straight from deb.debian.org),
# checked by sha256 and unpacked with Python, so nothing is installed system-wide.
#
# Skipped when AMT_GLOO_INCLUDE names a folder holding gloo/, or /usr/include/gloo exists.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/third_party/gloo"
stamp="$dest/.amt-gloo-v1"

if [[ -n "${AMT_GLOO_INCLUDE:-}" && -f "$AMT_GLOO_INCLUDE/gloo/algorithm.h" ]]; then
  exit 0
fi
if [[ -f /usr/include/gloo/algorithm.h || -f "$stamp" ]]; then
  exit 0
fi

version="0.0~git20220518.5b14351-3"
file="libgloo-dev_${version}_amd64.deb"
sha="80529c9fd8af452faf489e686b94bf87075965c40673803810c4f41634b1e299"
url="http://deb.debian.org/debian/pool/main/g/gloo/$file"
cache="${AMT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/amt/wheels}"
mkdir -p "$cache"

sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

if ! sha_ok "$cache/$file" "$sha"; then
  echo "amt: downloading Gloo's headers (Debian libgloo-dev $version, once; cached in $cache)" >&2
  rm -f "$cache/$file"
  (cd "$cache" && apt-get download -qq "libgloo-dev=$version" >/dev/null 2>&1) ||
    python3 - "$url" "$cache/$file" <<'PY' || true
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=60) as r, open(sys.argv[2], "wb") as f:
    f.write(r.read())
PY
  if ! sha_ok "$cache/$file" "$sha"; then
    echo "error: could not get $file with sha256 $sha" >&2
    echo "hint: check that deb.debian.org is reachable, or install libgloo-dev (or point AMT_GLOO_INCLUDE at a folder holding gloo/)" >&2
    rm -f "$cache/$file"
    exit 1
  fi
fi

tmp="$(mktemp -d "$root/third_party/.gloo.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$root/third_party"; mktemp -d "$root/third_party/.gloo.tmp.XXXXXX"; })"
trap 'rm -rf "$tmp"' EXIT
# A .deb is an `ar` archive; its data.tar.xz holds usr/include/gloo/.
python3 - "$cache/$file" "$tmp" <<'PY'
import io, os, sys, tarfile
deb, out = sys.argv[1], sys.argv[2]
data = open(deb, "rb").read()
assert data[:8] == b"!<arch>\n", "not an ar archive"
pos, found = 8, False
while pos + 60 <= len(data):
    header = data[pos:pos + 60]
    name = header[:16].decode().strip().rstrip("/")
    size = int(header[48:58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    pos += 60 + size + (size % 2)
    if name.startswith("data.tar"):
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            for m in tar.getmembers():
                path = m.name.lstrip("./")
                if not path.startswith("usr/include/gloo/") or not m.isfile():
                    continue
                dest = os.path.join(out, "include", path[len("usr/include/"):])
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with tar.extractfile(m) as src, open(dest, "wb") as dst:
                    dst.write(src.read())
                found = True
if not found:
    sys.exit("error: no usr/include/gloo in " + deb)
PY
date -u +%Y-%m-%dT%H:%M:%SZ > "$tmp/.amt-gloo-v1"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "amt: Gloo headers ready in third_party/gloo/include" >&2
