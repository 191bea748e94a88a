#!/usr/bin/env bash
# build-python-wasm.sh: build CPython 3.11 for wasm32-wasi from Debian's own
# sources, for maid's wasm sandbox backend (sandbox/wasm).
#
# Usage: scripts/build-python-wasm.sh            (or: make python-wasm)
#   PYTHON_WASM_DIR  output dir            (default: build/python-wasi)
#   PYTHON_WASM_WORK scratch/source dir    (default: build/python-wasi-work)
#   JOBS             parallel make jobs    (default: nproc)
#
# Needs root (or sudo) for apt-get: it installs the toolchain from Debian and
# adds a deb-src entry (/etc/apt/sources.list.d/maid-deb-src.sources) that
# mirrors the system's deb entries, then fetches sources with
# `apt-get source --download-only` (hash-checked by apt).
#
# Idempotent: the output carries a stamp (the sha256 of this script and of
# scripts/wasm/maid_entry.c); when it matches and both interpreters exist,
# the script exits at once without touching apt or the network. Edit either
# file (or delete the output) to rebuild.
#
# Output layout ($PYTHON_WASM_DIR):
#   python.wasm                      the interpreter (WASI preview1 command),
#                                    debug info stripped (~8 MB)
#   maid-python.wasm                 the same interpreter linked as a WASI
#                                    reactor with maid's entry points
#                                    (scripts/wasm/maid_entry.c): what the
#                                    wasm backend runs
#   usr/local/lib/python3.11/        the stdlib as sourceless .pyc files
#                                    (`make wasm_stdlib`'s pyc zip, unpacked;
#                                    os.pyc is getpath's landmark)
#   usr/local/lib/python3.11/lib-dynload/   empty (no dynamic modules on WASI;
#                                    site init wants the dir to exist)
#   BUILD-INFO                       versions and the stamp
#
# Guest setup (what sandbox/wasm does): mount $PYTHON_WASM_DIR/usr/local
# read-only at /usr/local and set PYTHONHOME=/usr/local; the stdlib dir is
# then on sys.path automatically. Extra import roots (the maid SDK) go on
# PYTHONPATH. Run as `python -m maid_sdk`; argv[0] is informational only.
# The guest needs wall/monotonic clocks and relative nanosleep (clock_nanosleep
# with absolute time is compiled out because wazero rejects it).
#
# Built-in extension modules worth knowing: zlib, _sqlite3 (SQLite 3.40.1, no
# WAL, no mmap, no file locking: one process per database), _json, _asyncio,
# _decimal, pyexpat, _hashlib-free hashes (sha*, md5, blake2). Not available:
# threads, subprocess, sockets beyond stubs, ssl, ctypes, multiprocessing.
set -euo pipefail

die() { echo "build-python-wasm: $*" >&2; exit 1; }
log() { echo "build-python-wasm: $*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT="$ROOT/scripts/$(basename "${BASH_SOURCE[0]}")"
OUT=${PYTHON_WASM_DIR:-$ROOT/build/python-wasi}
WORK=${PYTHON_WASM_WORK:-$ROOT/build/python-wasi-work}
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
case "$WORK" in /*) ;; *) WORK="$ROOT/$WORK" ;; esac
JOBS=${JOBS:-$(nproc)}

PY_VERSION=3.11.2 # upstream version of Debian bookworm's python3.11
STAMP=$(cat "$SCRIPT" "$ROOT/scripts/wasm/maid_entry.c" | sha256sum | cut -d' ' -f1)

if [[ -f "$OUT/python.wasm" && -f "$OUT/maid-python.wasm" && -f "$OUT/BUILD-INFO" ]] &&
	grep -qx "stamp=$STAMP" "$OUT/BUILD-INFO"; then
	log "up to date: $OUT/python.wasm"
	exit 0
fi

SUDO=
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || die "need root or sudo to install build packages"
	SUDO=sudo
fi

# ---- 1. toolchain -----------------------------------------------------------
PKGS=(clang-16 lld-16 llvm-16 wasi-libc libclang-rt-16-dev-wasm32 python3.11
	dpkg-dev tcl gcc libc6-dev make xz-utils bzip2)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# ---- 2. deb-src entry ---------------------------------------------------------
SRCLIST=/etc/apt/sources.list.d/maid-deb-src.sources
need_update=0
if [[ ! -f $SRCLIST ]]; then
	shopt -s nullglob
	srcs=(/etc/apt/sources.list.d/*.sources)
	shopt -u nullglob
	tmp=$(mktemp)
	for f in "${srcs[@]}"; do
		[[ $f == "$SRCLIST" ]] && continue
		# Copy the file with every stanza's Types turned into deb-src.
		grep -Eq '^Types:.*(^|[[:space:]])deb([[:space:]]|$)' "$f" || continue
		sed -E 's/^Types:.*$/Types: deb-src/' "$f" >>"$tmp"
		echo >>"$tmp"
	done
	[[ -s $tmp ]] || die "no deb822 'Types: deb' entry in /etc/apt/sources.list.d/*.sources to copy as deb-src"
	$SUDO install -m 0644 "$tmp" "$SRCLIST"
	rm -f "$tmp"
	log "added $SRCLIST"
	need_update=1
fi
if [[ ${#missing[@]} -gt 0 ]] || ! apt-cache showsrc python3.11 >/dev/null 2>&1 ||
	[[ -z $(apt-cache showsrc python3.11 2>/dev/null) ]]; then
	need_update=1
fi
if [[ $need_update -eq 1 ]]; then
	$SUDO apt-get update -q
fi
if [[ ${#missing[@]} -gt 0 ]]; then
	log "installing ${missing[*]}"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
for t in clang-16 wasm-ld-16 llvm-ar-16 llvm-ranlib-16 llvm-strip-16 python3.11 tclsh; do
	command -v "$t" >/dev/null || die "missing tool $t after install"
done
LLVM=/usr/lib/llvm-16/bin
[[ -x $LLVM/wasm-ld ]] || die "$LLVM/wasm-ld missing (package lld-16)"

# ---- 3. sources ---------------------------------------------------------------
SRC="$WORK/src"
mkdir -p "$SRC"

# fetch_orig PKG GLOB: download PKG's sources, newest revision first. A
# revision's .dsc may be missing on the mirror (security archive churn) while
# the shared upstream .orig tarball is there, so try each revision in turn and
# succeed once the .orig tarball is present (apt checks its hash either way).
fetch_orig() {
	local pkg=$1 glob=$2 v
	if compgen -G "$SRC/$glob" >/dev/null; then return 0; fi
	local versions
	versions=$(apt-cache showsrc "$pkg" | awk '/^Version:/{print $2}' | sort -rV | uniq)
	[[ -n $versions ]] || die "apt knows no source package $pkg (deb-src entry missing?)"
	for v in $versions; do
		log "fetching source $pkg=$v"
		if (cd "$SRC" && apt-get source -q --download-only "$pkg=$v" >&2); then
			break
		fi
		log "$pkg=$v incomplete on the mirror; trying an older revision"
	done
	compgen -G "$SRC/$glob" >/dev/null || die "could not fetch $glob for $pkg"
}
fetch_orig python3.11 "python3.11_${PY_VERSION}.orig.tar.*"
fetch_orig zlib "zlib_*.orig.tar.*"
fetch_orig sqlite3 "sqlite3_*.orig.tar.*"

PY_TAR=$(compgen -G "$SRC/python3.11_${PY_VERSION}.orig.tar.*" | head -1)
ZLIB_TAR=$(compgen -G "$SRC/zlib_*.orig.tar.*" | head -1)
SQLITE_TAR=$(ls "$SRC"/sqlite3_*.orig.tar.* | grep -v -- '-www' | head -1)

# unpack TARBALL DEST: fresh unpack, stripping the top-level directory.
unpack() {
	rm -rf "$2" && mkdir -p "$2"
	tar -xf "$1" -C "$2" --strip-components=1
}

export PATH="$LLVM:$PATH"
WASI_CC="clang-16 --target=wasm32-wasi"
DEPS="$WORK/deps" # wasm static libs + headers
rm -rf "$DEPS" && mkdir -p "$DEPS/include" "$DEPS/lib"

# ---- 4. zlib (for the zlib module and zipimport of the stdlib) -----------------
log "building zlib for wasm32-wasi"
unpack "$ZLIB_TAR" "$WORK/zlib"
(
	cd "$WORK/zlib"
	objs=()
	for c in adler32 compress crc32 deflate gzclose gzlib gzread gzwrite infback \
		inffast inflate inftrees trees uncompr zutil; do
		$WASI_CC -O2 -w -D_LARGEFILE64_SOURCE=1 -DHAVE_HIDDEN -c "$c.c" -o "$c.o"
		objs+=("$c.o")
	done
	llvm-ar-16 rcs "$DEPS/lib/libz.a" "${objs[@]}"
	cp zlib.h zconf.h "$DEPS/include/"
)

# ---- 5. SQLite (amalgamation generated natively, compiled for wasm) ------------
log "building sqlite3 for wasm32-wasi"
unpack "$SQLITE_TAR" "$WORK/sqlite"
(
	cd "$WORK/sqlite"
	mkdir -p native && cd native
	# The amalgamation generator is a native build step (needs tcl, gcc).
	CC=gcc ../configure --disable-tcl -q >/dev/null
	make -s sqlite3.c sqlite3.h >/dev/null
	# WASI has no advisory locks, fchmod, fchown or geteuid. SQLite only needs
	# locks against other processes, and a WASI guest is alone with its files,
	# so the stand-ins succeed without doing anything.
	cat >wasi_shim.h <<'EOF'
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#ifndef F_RDLCK
#define F_RDLCK 0
#define F_WRLCK 1
#define F_UNLCK 2
#endif
#ifndef F_GETLK
#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#endif
static int maid_wasi_fcntl(int fd, int cmd, ...) {
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	switch (cmd) {
	case F_GETLK:
		((struct flock *)arg)->l_type = F_UNLCK;
		return 0;
	case F_SETLK:
	case F_SETLKW:
		return 0;
	}
	return fcntl(fd, cmd, (int)(long)arg);
}
#define fcntl maid_wasi_fcntl
static int maid_wasi_fchmod(int fd, mode_t m) { (void)fd; (void)m; return 0; }
#define fchmod maid_wasi_fchmod
static int maid_wasi_fchown(int fd, uid_t u, gid_t g) { (void)fd; (void)u; (void)g; return 0; }
#define fchown maid_wasi_fchown
static uid_t maid_wasi_geteuid(void) { return 0; }
#define geteuid maid_wasi_geteuid
EOF
	$WASI_CC -O2 -include wasi_shim.h \
		-DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_WAL -DSQLITE_MAX_MMAP_SIZE=0 \
		-DSQLITE_OMIT_LOAD_EXTENSION -D_WASI_EMULATED_GETPID \
		-DSQLITE_DEFAULT_MEMSTATUS=0 \
		-Wno-implicit-function-declaration \
		-c sqlite3.c -o sqlite3.o
	llvm-ar-16 rcs "$DEPS/lib/libsqlite3.a" sqlite3.o
	cp sqlite3.h "$DEPS/include/"
)

# ---- 6. CPython ---------------------------------------------------------------
log "building CPython $PY_VERSION for wasm32-wasi (takes a few minutes)"
unpack "$PY_TAR" "$WORK/cpython"
PYBUILD="$WORK/cpython/builddir/wasi"
mkdir -p "$PYBUILD"
EMPTY_PC="$WORK/empty-pkgconfig"
mkdir -p "$EMPTY_PC"
(
	cd "$PYBUILD"
	# clock_nanosleep is compiled out: CPython would sleep with absolute
	# deadlines, which wazero rejects, so time.sleep() would fail.
	CONFIG_SITE=../../Tools/wasm/config.site-wasm32-wasi \
		ac_cv_func_clock_nanosleep=no ac_cv_lib_rt_clock_nanosleep=no \
		CC="$WASI_CC" CPP="$WASI_CC -E" \
		AR=llvm-ar-16 RANLIB=llvm-ranlib-16 READELF=true \
		CFLAGS="-Wno-error=int-conversion -I$DEPS/include" \
		LDFLAGS="-L$DEPS/lib" \
		PKG_CONFIG_LIBDIR="$EMPTY_PC" PKG_CONFIG_PATH= \
		ZLIB_CFLAGS="-I$DEPS/include" ZLIB_LIBS="-L$DEPS/lib -lz" \
		LIBSQLITE3_CFLAGS="-I$DEPS/include" LIBSQLITE3_LIBS="-L$DEPS/lib -lsqlite3" \
		../../configure -q \
		--host=wasm32-unknown-wasi --build="$(../../config.guess)" \
		--with-build-python=/usr/bin/python3.11 \
		--prefix=/usr/local --disable-ipv6 --disable-test-modules \
		>"$WORK/configure.log" 2>&1 || { tail -40 "$WORK/configure.log" >&2; die "configure failed (see $WORK/configure.log)"; }
	# Modules we promise must be built in, not silently skipped.
	for m in zlib _sqlite3 _json _asyncio _decimal pyexpat; do
		grep -q "^MODULE_${m^^}_STATE=yes" Makefile ||
			die "configure did not enable module $m (see $PYBUILD/config.log)"
	done
	make -j"$JOBS" >"$WORK/make.log" 2>&1 || { tail -40 "$WORK/make.log" >&2; die "make failed (see $WORK/make.log)"; }
	make wasm_stdlib >>"$WORK/make.log" 2>&1 || { tail -40 "$WORK/make.log" >&2; die "make wasm_stdlib failed (see $WORK/make.log)"; }
	# maid-python.wasm: the same objects linked as a WASI reactor with
	# maid's entry points (scripts/wasm/maid_entry.c), compiled and linked
	# with exactly the flags CPython's Makefile uses for python.wasm.
	cat >"$WORK/maid-vars.mk" <<'MK'
maid-cc:
	@echo '$(CC) $(PY_CORE_CFLAGS)'
maid-link:
	@echo '$(LINKCC) $(PY_CORE_LDFLAGS) $(LINKFORSHARED) Programs/python.o $(LINK_PYTHON_OBJS) $(LIBS) $(MODLIBS) $(SYSLIBS)'
MK
	cc_cmd=$(make -s -f Makefile -f "$WORK/maid-vars.mk" maid-cc)
	link_cmd=$(make -s -f Makefile -f "$WORK/maid-vars.mk" maid-link)
	$cc_cmd -c "$ROOT/scripts/wasm/maid_entry.c" -o Programs/maid_entry.o ||
		die "compile scripts/wasm/maid_entry.c failed"
	$link_cmd Programs/maid_entry.o -mexec-model=reactor -o maid-python.wasm ||
		die "link maid-python.wasm failed"
)

# ---- 7. install ---------------------------------------------------------------
log "installing into $OUT"
STAGE="$OUT.tmp"
rm -rf "$STAGE" && mkdir -p "$STAGE"
llvm-strip-16 --strip-debug -o "$STAGE/python.wasm" "$PYBUILD/python.wasm"
llvm-strip-16 --strip-debug -o "$STAGE/maid-python.wasm" "$PYBUILD/maid-python.wasm"
cp -a "$PYBUILD/usr" "$STAGE/usr"
LIBDIR="$STAGE/usr/local/lib"
[[ -f $LIBDIR/python311.zip && -d $LIBDIR/python3.11/lib-dynload ]] ||
	die "stdlib zip or lib-dynload missing after make wasm_stdlib"
# Unpack the .pyc zip into lib/python3.11: zipimport parses the zip's
# ~1,500-entry directory in pure Python at every interpreter start, which
# was the biggest single cost of a cold start. Sourceless .pyc files import
# directly; os.py (make wasm_stdlib's landmark) goes, or it would shadow
# os.pyc and be compiled from source at every start (os.pyc is a landmark
# too).
python3.11 -m zipfile -e "$LIBDIR/python311.zip" "$LIBDIR/python3.11/"
rm -f "$LIBDIR/python311.zip" "$LIBDIR/python3.11/os.py"
[[ -f $LIBDIR/python3.11/os.pyc && -f $LIBDIR/python3.11/encodings/__init__.pyc ]] ||
	die "unpacked stdlib lacks os.pyc or encodings"
{
	echo "python=$PY_VERSION ($(basename "$PY_TAR"))"
	echo "zlib=$(basename "$ZLIB_TAR")"
	echo "sqlite=$(basename "$SQLITE_TAR")"
	echo "clang=$(clang-16 --version | head -1)"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "stamp=$STAMP"
} >"$STAGE/BUILD-INFO"
rm -rf "$OUT"
mv "$STAGE" "$OUT"
log "done: $OUT/maid-python.wasm ($(du -h "$OUT/maid-python.wasm" | cut -f1)), python.wasm, stdlib $(du -sh "$OUT/usr/local/lib/python3.11" | cut -f1)"
