#!/usr/bin/env bash
# Builds maid's plugin image (default maid/python:3.11) without any registry:
# debootstrap a minimal Debian bookworm, copy out just CPython 3.11 and the
# libraries its modules need, precompile everything (the root filesystem is
# read-only at run time, so no .pyc can be written later), add the maid SDK
# and `docker import` the result.
#
# Idempotent: the image carries a label with the hash of this script and the
# SDK sources; if an image with the same hash exists, nothing is done.
#
# Environment:
#   MAID_DOCKER_IMAGE    image name (default maid/python:3.11)
#   MAID_DOCKER_WORKDIR  build directory (default /var/tmp/maid-docker-image)
#   MAID_DEBIAN_MIRROR   Debian mirror (default: debootstrap's own default)
#   MAID_FORCE=1         rebuild even if the image is up to date
set -euo pipefail

die() { echo "build-docker-image: $*" >&2; exit 1; }
log() { echo "build-docker-image: $*" >&2; }

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${MAID_DOCKER_IMAGE:-maid/python:3.11}
work=${MAID_DOCKER_WORKDIR:-/var/tmp/maid-docker-image}
suite=bookworm
# The builder chroot gets the interpreter and full stdlib; only part of it
# is copied into the image.
packages=python3.11-minimal,libpython3.11-stdlib

command -v docker >/dev/null || die "docker CLI not found (Debian: apt-get install docker.io)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
	|| die "docker engine unreachable (DOCKER_HOST=${DOCKER_HOST:-default socket}); start dockerd"

# Hash of the SDK tree, computed the same way by sandbox/docker (sdkHash):
# sha256 of `sha256sum` lines for every SDK file, sorted by path.
sdk_hash=$(cd "$root_dir/sdk/python" \
	&& find maid_sdk -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
	| LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
inputs_hash=$( { sha256sum <"${BASH_SOURCE[0]}"; echo "$sdk_hash $suite $packages"; } | sha256sum | cut -c1-64)

if [[ "${MAID_FORCE:-0}" != 1 ]]; then
	have=$(docker image inspect --format '{{index .Config.Labels "dev.maid.inputs"}}' "$image" 2>/dev/null || true)
	if [[ "$have" == "$inputs_hash" ]]; then
		log "$image is up to date (inputs $inputs_hash)"
		exit 0
	fi
fi

[[ $(id -u) == 0 ]] || die "must run as root (debootstrap and chroot need it); try: sudo $0"
if ! command -v debootstrap >/dev/null; then
	log "installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2 \
		|| die "cannot install debootstrap (run apt-get update first?)"
fi

build=$work/build
slim=$work/slim
mkdir -p "$work"

# 1. Builder chroot, kept between runs (debootstrap is the slow part); the
#    marker records what it was built with.
marker="$build/.maid-bootstrap"
if [[ ! -f "$marker" || "$(cat "$marker")" != "$suite $packages" ]]; then
	log "debootstrap $suite into $build (takes about a minute)"
	rm -rf "$build"
	debootstrap --variant=minbase --include="$packages" "$suite" "$build" ${MAID_DEBIAN_MIRROR:+"$MAID_DEBIAN_MIRROR"} >&2 \
		|| die "debootstrap failed (see output above; is the Debian mirror reachable?)"
	echo "$suite $packages" >"$marker"
fi

# 2. Security and point-release updates. The mirror debootstrap used is in
#    the chroot's sources.list; the security archive sits beside it.
mirror=$(awk '$1 == "deb" { print $2; exit }' "$build/etc/apt/sources.list")
[[ -n "$mirror" ]] || die "no mirror found in $build/etc/apt/sources.list"
mirror=${mirror%/}
cat >"$build/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $mirror-security $suite-security main
EOF
cp /etc/resolv.conf "$build/etc/resolv.conf"
log "applying $suite-updates and $suite-security"
chroot "$build" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
	sh -c 'apt-get update -q && apt-get -y -q upgrade && apt-get clean' >&2 \
	|| die "apt-get upgrade in the builder chroot failed"

# 3. The slim root: merged /usr like Debian, nothing but python and its libs.
log "assembling $slim"
rm -rf "$slim"
mkdir -p "$slim"/{usr/bin,usr/lib/x86_64-linux-gnu,usr/lib64,etc,opt/maid/sdk,tmp}
ln -s usr/bin "$slim/bin"
ln -s usr/lib "$slim/lib"
ln -s usr/lib64 "$slim/lib64"
chmod 1777 "$slim/tmp"

cp -a "$build/usr/bin/python3.11" "$slim/usr/bin/"
ln -s python3.11 "$slim/usr/bin/python3"
cp -a "$build/usr/lib/python3.11" "$slim/usr/lib/"
stdlib=$slim/usr/lib/python3.11
# Not useful to a plugin, large, or needing libraries we leave out (TLS is
# pointless without a network; curses/readline/dbm need a terminal or disk).
rm -rf "$stdlib"/{test,idlelib,tkinter,turtledemo,turtle.py,ensurepip,lib2to3,pydoc_data,distutils,site-packages,dist-packages,config-3.11-x86_64-linux-gnu}
rm -f "$stdlib"/lib-dynload/{_ssl,_hashlib,_curses,_curses_panel,readline,_dbm,_gdbm,_tkinter,nis,_crypt}.cpython-311-*.so \
	"$stdlib"/lib-dynload/{_test,_xx,xx}*.so
find "$slim" -name __pycache__ -prune -exec rm -rf {} +

# Shared libraries: whatever the interpreter and the kept extension modules
# link, resolved inside the builder chroot and copied as real files.
elfs=(/usr/bin/python3.11)
for so in "$stdlib"/lib-dynload/*.so; do elfs+=("${so#"$slim"}"); done
mapfile -t libs < <(for e in "${elfs[@]}"; do chroot "$build" ldd "$e"; done \
	| awk '/=>/ { print $3; next } /^\t\// { print $1 }' | grep '^/' | sort -u)
[[ ${#libs[@]} -gt 0 ]] || die "ldd found no libraries (broken builder chroot?)"
for lib in "${libs[@]}"; do
	real=$(chroot "$build" readlink -f "$lib")
	mkdir -p "$slim$(dirname "$lib")"
	cp "$build$real" "$slim$lib"
done
echo /usr/lib/x86_64-linux-gnu >"$slim/etc/ld.so.conf"
ldconfig -r "$slim"

cat >"$slim/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$slim/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cp "$build/etc/os-release" "$slim/etc/os-release" 2>/dev/null || cp "$build/usr/lib/os-release" "$slim/etc/os-release"

(cd "$root_dir/sdk/python" && find maid_sdk -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
	| xargs -0 cp --parents -t "$slim/opt/maid/sdk")

# 4. Precompile: unchecked-hash .pyc files are used without stat checks,
#    which is right for an immutable root.
log "precompiling the standard library"
chroot "$slim" /usr/bin/python3.11 -m compileall -q --invalidation-mode unchecked-hash \
	/usr/lib/python3.11 /opt/maid/sdk >&2 || die "compileall failed"
chroot "$slim" /usr/bin/python3.11 -c 'import json, zlib, pyexpat, sqlite3, hashlib, decimal, asyncio; hashlib.sha256()' \
	|| die "smoke test of the slim root failed"
chown -R 0:0 "$slim"
log "slim root is $(du -sh "$slim" | cut -f1)"

# 5. Import. USER and the env make a plain `docker run IMAGE` behave like the
#    backend's containers.
log "importing as $image"
tar -C "$slim" --numeric-owner --sort=name -c . | docker import \
	--change "ENV PATH=/usr/bin" \
	--change "ENV PYTHONPATH=/opt/maid/sdk" \
	--change "ENV PYTHONDONTWRITEBYTECODE=1" \
	--change "ENV PYTHONUTF8=1" \
	--change "LABEL dev.maid.inputs=$inputs_hash" \
	--change "LABEL dev.maid.sdk=$sdk_hash" \
	--change "USER 65534:65534" \
	--change "WORKDIR /tmp" \
	--change 'CMD ["python3", "-m", "maid_sdk"]' \
	--message "maid plugin image ($suite, python3.11, sdk $sdk_hash)" \
	- "$image" >&2 || die "docker import failed"
# Earlier builds are now untagged; drop those no container uses.
docker image prune -f --filter label=dev.maid.inputs >/dev/null || log "could not prune earlier builds"
log "built $image ($(docker image inspect --format '{{.Size}}' "$image") bytes)"
