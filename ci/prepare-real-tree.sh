#!/usr/bin/env bash
# prepare-real-tree.sh [CACHE_DIR]: make the real rustc 1.95.0 source tree that the contract
# tests (xtask/tests/integration/real_tree.rs) run against, and print its path on the last line of stdout.
#
# The tree is the rustc-src tarball as Debian repacks it (rustc_1.95.0+dfsg1.orig.tar.xz,
# downloaded from the Debian archive this machine's apt sources name, checked by SHA-256),
# repaired where the repack removed something bootstrap needs to start, and configured so that
# bootstrap runs offline with `--dry-run`. There are no LLVM sources in it: nothing can be
# built for real, and the tests never try.
#
# The repairs:
#   - the tarball's vendoring (.cargo/config.toml) is set aside as
#     .cargo/config.toml.debian-vendored: Debian pruned and updated vendor/, so bootstrap's
#     crates come from crates.io (downloaded once, here, into CARGO_HOME). A test that wants
#     the tarball as upstream ships it puts the file back (see real_tree.rs);
#   - vendor/ gets the crates src/bootstrap/Cargo.lock pins that Debian removed or altered, from
#     crates.io at the pinned versions, so with the vendoring put back bootstrap builds from
#     vendor/ alone, as from upstream's tarball;
#   - .gitmodules, which bootstrap reads for the submodule paths;
#   - the root workspace's members Debian dropped (miri, remote-test-*) as empty crates:
#     bootstrap only reads their manifests (`cargo metadata --no-deps`).
# The root Cargo.lock is left byte-identical (checked).
#
# Cache: CACHE_DIR, else $OPT_DIST_CACHE, else ~/.cache/opt-dist-real-tree-ours. Idempotent:
# a finished tree (marker .opt-dist-prepared) is reused as it is. First run: a few minutes.
# Needs: curl, xz-utils, python3 >= 3.11 and llvm-22 (ci/setup-debian.sh installs them), the
# rustup 1.95.0 toolchain (the stage0), and crates.io.
set -euo pipefail

version=1.95.0
tarball_name=rustc_$version+dfsg1.orig.tar.xz
tarball_sha256=fee0a232c32b6f919b2166efc441a7c37884905bdcc2170163579eeed5feee6b
cache=${1:-${OPT_DIST_CACHE:-$HOME/.cache/opt-dist-real-tree-ours}}
tree=$cache/rustc-$version-src
marker=$tree/.opt-dist-prepared

say() { echo "prepare-real-tree: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

if [[ -f $marker ]]; then
  echo "$tree"
  exit 0
fi

for tool in curl xz python3 cargo rustup; do
  command -v "$tool" >/dev/null || die "$tool not found (ci/setup-debian.sh installs what is missing)"
done
llvm_config=$(command -v llvm-config-22 || true)
[[ -n $llvm_config ]] || die "llvm-config-22 not found: it comes with the llvm-22 package (ci/setup-debian.sh)"
if ! rustup which --toolchain $version rustc >/dev/null 2>&1; then
  say "installing the rust $version toolchain (bootstrap's stage0)"
  rustup toolchain install $version --profile minimal >&2
fi
stage0=$(dirname "$(rustup which --toolchain $version rustc)")

mkdir -p "$cache"
work=$(mktemp -d "$cache/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. The tarball

tarball=$cache/$tarball_name
sha_ok() { [[ -f $tarball ]] && [[ $(sha256sum "$tarball" | cut -d' ' -f1) == "$tarball_sha256" ]]; }
if ! sha_ok; then
  # The first non-security archive among apt's sources (deb822 `URIs:` or one-line `deb`).
  archive=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    sed -n -E 's/^URIs:[[:space:]]*//p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//p' |
    awk '{ print $1 }' | grep -v -e security -e snapshot | head -n 1 || true)
  [[ -n $archive ]] || die "no Debian archive in the apt sources to download $tarball_name from"
  say "downloading ${archive%/}/pool/main/r/rustc/$tarball_name"
  curl --fail --silent --show-error --location --retry 3 \
    -o "$work/$tarball_name" "${archive%/}/pool/main/r/rustc/$tarball_name"
  mv "$work/$tarball_name" "$tarball"
  sha_ok || die "$tarball does not have the expected SHA-256 $tarball_sha256"
fi

# 2. Unpacked afresh (an unfinished earlier run leaves no marker, so it is redone)

say "unpacking $tarball_name"
rm -rf "$tree"
tar -xJf "$tarball" -C "$work"
mv "$work/rustc-$version-src" "$tree"
cd "$tree"
root_lock_sha=$(sha256sum Cargo.lock)

# 3. Repairs

if [[ -f .cargo/config.toml ]]; then
  mv .cargo/config.toml .cargo/config.toml.debian-vendored
fi

say "adding to vendor/ the crates bootstrap pins that the repack removed or changed"
# From outside the tree, so no cargo configuration of the tree applies.
(cd "$work" && cargo vendor --quiet --locked --versioned-dirs \
  --manifest-path "$tree/src/bootstrap/Cargo.toml" "$work/bootstrap-vendor" >/dev/null)
python3 - "$tree" "$work/bootstrap-vendor" <<'PY'
import hashlib, json, os, shutil, sys, tomllib
tree, pristine = sys.argv[1:]
lock = tomllib.load(open(os.path.join(tree, "src/bootstrap/Cargo.lock"), "rb"))
def intact(crate_dir, checksum):
    """The vendored crate is the one the lock pins, with every file its checksums list."""
    try:
        sums = json.load(open(os.path.join(crate_dir, ".cargo-checksum.json")))
    except OSError:
        return False
    if sums.get("package") != checksum:
        return False
    for name, digest in sums.get("files", {}).items():
        try:
            data = open(os.path.join(crate_dir, name), "rb").read()
        except OSError:
            return False
        if hashlib.sha256(data).hexdigest() != digest:
            return False
    return True
added, replaced = [], []
for package in lock["package"]:
    if "source" not in package:
        continue
    name = f'{package["name"]}-{package["version"]}'
    target = os.path.join(tree, "vendor", name)
    if intact(target, package.get("checksum")):
        continue
    (replaced if os.path.exists(target) else added).append(name)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(os.path.join(pristine, name), target, symlinks=True)
print(f"prepare-real-tree: vendor/: {len(added)} crates added, replaced {replaced or 'none'}",
      file=sys.stderr)
PY

# Bootstrap reads the submodule paths from .gitmodules, which the tarball does not carry.
if [[ ! -f .gitmodules ]]; then
  for path in library/backtrace src/doc/book src/doc/edition-guide src/doc/embedded-book \
    src/doc/nomicon src/doc/reference src/doc/rust-by-example src/gcc src/llvm-project \
    src/tools/cargo src/tools/enzyme src/tools/rustc-perf; do
    printf '[submodule "%s"]\n\tpath = %s\n' "$path" "$path"
  done >.gitmodules
fi

python3 - <<'PY'
# Root workspace members without a manifest (dropped by the repack) become empty crates of the
# name and version Cargo.lock records for them.
import glob, os, sys, tomllib
members = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["members"]
locked = {p["name"]: p["version"] for p in tomllib.load(open("Cargo.lock", "rb"))["package"]
          if "source" not in p}
made = []
for pattern in members:
    for member in glob.glob(pattern) or [pattern]:
        if os.path.exists(os.path.join(member, "Cargo.toml")):
            continue
        name = os.path.basename(member)
        if name not in locked:
            sys.exit(f"prepare-real-tree: error: member {member} has no manifest and no "
                     "Cargo.lock entry to make one from")
        os.makedirs(os.path.join(member, "src"), exist_ok=True)
        with open(os.path.join(member, "Cargo.toml"), "w") as f:
            f.write(f'# Stand-in for a crate the Debian repack removed (prepare-real-tree.sh).\n'
                    f'[package]\nname = "{name}"\nversion = "{locked[name]}"\n'
                    f'edition = "2021"\npublish = false\n')
        open(os.path.join(member, "src", "lib.rs"), "w").close()
        made.append(member)
print(f"prepare-real-tree: stand-in crates: {made or 'none'}", file=sys.stderr)
PY

# 4. Offline configuration: the rustup toolchain as stage0, the system LLVM 22, no downloads

host=$("$stage0/rustc" -vV | sed -n 's/^host: //p')
cat >bootstrap.toml <<EOF
# Written by opt-dist's ci/prepare-real-tree.sh: stage0 and LLVM from this machine, nothing
# downloaded; vendor = false because .cargo/config.toml is set aside (see the script).
change-id = "ignore"

[build]
rustc = "$stage0/rustc"
cargo = "$stage0/cargo"
vendor = false
submodules = false
metrics = true

[llvm]
download-ci-llvm = false

[rust]
download-rustc = false

[target.$host]
llvm-config = "$llvm_config"
EOF

# 5. Bootstrap compiled once (its crates come from crates.io now), so later x.py calls are quick

say "compiling bootstrap"
python3 x.py build --dry-run library/std >"$work/dry-run.log" 2>&1 ||
  die "bootstrap's dry run failed: $(tail -n 20 "$work/dry-run.log")"
echo "$root_lock_sha" | sha256sum --check --quiet - || die "the root Cargo.lock changed"
touch "$marker"
say "ready"
echo "$tree"
