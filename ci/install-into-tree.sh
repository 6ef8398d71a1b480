#!/usr/bin/env bash
# install-into-tree.sh <RUST_TREE>: put this project's xtask into a rust source tree (a git
# checkout or an unpacked rustc-src tarball), so that `cargo xtask opt-dist …` works from the
# tree's root with no --src, offline.
#
# What it writes, and nothing else:
#   <tree>/src/tools/opt-dist-xtask/{Cargo.toml,Cargo.lock,src/}  the crate, a workspace of its
#       own (like src/bootstrap), so the tree's root Cargo.toml and Cargo.lock are not touched;
#   <tree>/.cargo/config.toml   the `xtask` alias is added (the file is created when absent;
#       anything else in it, such as the tarball's vendoring, is kept as it is);
#   <tree>/vendor/<crate>-<version>/   only when the tree vendors its crates: the crates the
#       xtask needs that the vendor dir lacks (pico-args, and the Windows crates Debian's repack
#       prunes). Crates the vendor dir has are used at its versions. This is the only step that
#       may use the network (crates.io), once; a second run finds them vendored.
# The xtask is built into <tree>/build/opt-dist-xtask (bootstrap's writable build dir).
#
# Idempotent: a second run changes no file (files are only written when their content
# differs). Re-running after this project's xtask sources changed updates the installed copy.
# Needs: bash, python3 >= 3.11 (tomllib), cargo.
set -euo pipefail

log() { echo "install-into-tree: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

(($# == 1)) || die "usage: ci/install-into-tree.sh <RUST_TREE>"
project=$(cd "$(dirname "$0")/.." && pwd)
[[ -d $1 ]] || die "$1 is not a directory"
tree=$(cd "$1" && pwd -P)
[[ -f $tree/x.py ]] || die "$tree is not a rust source tree (it has no x.py)"

crate_rel=src/tools/opt-dist-xtask
crate=$tree/$crate_rel
# Relative to the tree's root, where the alias is used: the tree can be moved or unpacked anywhere.
alias_value="run --manifest-path $crate_rel/Cargo.toml --target-dir build/opt-dist-xtask --"

work=$(mktemp -d "${TMPDIR:-/tmp}/install-into-tree.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/crate
mkdir -p "$stage"

# ---------------------------------------------------------------------------------------------
# 1. The crate as it will be installed, staged outside the tree

cp -R "$project/xtask/src" "$stage/src"
python3 - "$project/xtask/Cargo.toml" "$stage/Cargo.toml" <<'PY'
import sys, tomllib
source, dest = sys.argv[1], sys.argv[2]
text = open(source).read()
manifest = tomllib.loads(text)
inherited = [k for k, v in manifest["package"].items() if isinstance(v, dict) and v.get("workspace")]
if inherited:
    sys.exit(f"install-into-tree: error: {source} inherits {inherited} from its workspace; "
             "the installed crate is a workspace of its own, so state them in the manifest")
# Keep the manifest's text (and comments), minus the benches: they are not installed.
out, skipping = [], False
for line in text.splitlines():
    header = line.strip()
    if header.startswith("["):
        skipping = header == "[[bench]]"
    if not skipping:
        out.append(line)
while out and not out[-1].strip():
    out.pop()
header = ("# Installed by opt-dist's ci/install-into-tree.sh from its xtask/Cargo.toml; re-run the\n"
          "# installer rather than editing this copy.\n")
footer = """

# A workspace of its own, like src/bootstrap: the tree's root workspace and its Cargo.lock are
# left alone.
[workspace]

# Profiles count only at a workspace root. Profiles are hashed (SHA-256) for the manifests, and
# an unoptimized hash of a 100 MiB profile takes seconds.
[profile.dev.package.xtask]
opt-level = 2
"""
open(dest, "w").write(header + "\n".join(out) + footer)
PY

# ---------------------------------------------------------------------------------------------
# 2. Its Cargo.lock

# The directory that replaces crates.io in the tree's cargo configuration, if any.
vendor=$(python3 - "$tree" <<'PY'
import os, sys, tomllib
tree = sys.argv[1]
path = os.path.join(tree, ".cargo", "config.toml")
if not os.path.exists(path):
    path = os.path.join(tree, ".cargo", "config")
if os.path.exists(path):
    config = tomllib.load(open(path, "rb"))
    sources = config.get("source", {})
    name = sources.get("crates-io", {}).get("replace-with")
    directory = sources.get(name, {}).get("directory") if name else None
    if directory:
        # Cargo resolves a relative path against the directory holding `.cargo/`.
        print(os.path.normpath(os.path.join(tree, directory)))
PY
)

# Cargo run from the tree's root, so the tree's .cargo/config.toml (its vendoring) applies.
in_tree_cargo() { (cd "$tree" && cargo "$@" --manifest-path "$stage/Cargo.toml"); }

# Adds to $vendor the crates the xtask needs that it lacks: resolves the xtask against
# crates.io in a probe project outside the tree, moves every crate the vendor dir has in a
# compatible version to that version, and vendors the rest.
add_missing_crates() {
  local probe=$work/probe
  mkdir -p "$probe/src"
  cp "$stage/Cargo.toml" "$probe/Cargo.toml"
  echo 'fn main() {}' >"$probe/src/main.rs"
  log "resolving the xtask's dependencies against crates.io"
  (cd "$work" && cargo generate-lockfile --quiet --manifest-path "$probe/Cargo.toml")
  local round pins
  for round in 1 2 3 4 5 6 7 8; do
    pins=$(python3 - "$vendor" "$probe/Cargo.lock" <<'PY'
import os, sys, tomllib
vendor, lock = sys.argv[1], sys.argv[2]
have = {}
for entry in os.listdir(vendor):
    manifest = os.path.join(vendor, entry, "Cargo.toml")
    if os.path.isfile(manifest):
        package = tomllib.load(open(manifest, "rb")).get("package", {})
        have.setdefault(package.get("name"), set()).add(package.get("version"))
def parse(version):
    core = version.split("+")[0].split("-")[0]
    return tuple(int(p) for p in core.split("."))
def compat(version):
    # Cargo's semver compatibility: the first non-zero component (0.0.x: all three).
    v = parse(version)
    return v[:1] if v[0] else v[:2] if v[1] else v
for package in tomllib.load(open(lock, "rb")).get("package", []):
    name, version = package["name"], package["version"]
    if "source" not in package or version in have.get(name, ()):
        continue
    candidates = [v for v in have.get(name, ()) if "-" not in v.split("+")[0] and compat(v) == compat(version)]
    if candidates:
        print(f"{name}@{version} {max(candidates, key=parse)}")
PY
)
    [[ -n $pins ]] || break
    local moved=0 spec precise
    while read -r spec precise; do
      if (cd "$work" && cargo update --quiet --manifest-path "$probe/Cargo.toml" -p "$spec" --precise "$precise") 2>/dev/null; then
        moved=1
      fi
    done <<<"$pins"
    ((moved)) || break
  done
  log "downloading the crates $vendor lacks"
  (cd "$work" && cargo vendor --quiet --locked --versioned-dirs --manifest-path "$probe/Cargo.toml" "$probe/vendor" >/dev/null)
  local dir added=()
  for dir in "$probe/vendor"/*/; do
    dir=${dir%/}
    [[ -e $vendor/${dir##*/} ]] && continue
    cp -R "$dir" "$vendor/${dir##*/}"
    added+=("${dir##*/}")
  done
  log "added to $vendor: ${added[*]:-nothing}"
}

if [[ -n $vendor ]]; then
  [[ -d $vendor ]] || die "the tree's cargo configuration vendors crates into $vendor, which does not exist"
  # Against the vendor dir alone, so the lock is the same for every run on the same vendor dir.
  if ! in_tree_cargo generate-lockfile --offline --quiet 2>"$work/offline.err"; then
    add_missing_crates
    in_tree_cargo generate-lockfile --offline --quiet ||
      die "the xtask does not resolve against $vendor even after adding crates to it"
  fi
else
  # No vendoring (a git checkout): keep the versions already installed, else this project's.
  if [[ -f $crate/Cargo.lock ]]; then
    cp "$crate/Cargo.lock" "$stage/Cargo.lock"
  else
    cp "$project/Cargo.lock" "$stage/Cargo.lock"
  fi
  in_tree_cargo metadata --offline --format-version 1 >/dev/null 2>&1 ||
    in_tree_cargo metadata --format-version 1 >/dev/null
fi

# ---------------------------------------------------------------------------------------------
# 3. Into the tree: write only what differs, remove source files the project no longer has

changed=()
while IFS= read -r -d '' file; do
  rel=${file#"$stage"/}
  if ! cmp -s "$file" "$crate/$rel"; then
    mkdir -p "$(dirname "$crate/$rel")"
    cp "$file" "$crate/$rel"
    changed+=("$crate_rel/$rel")
  fi
done < <(find "$stage" -type f -print0 | sort -z)
if [[ -d $crate/src ]]; then
  while IFS= read -r -d '' file; do
    rel=${file#"$crate"/}
    if [[ ! -e $stage/$rel ]]; then
      rm -f "$file"
      changed+=("$crate_rel/$rel (removed)")
    fi
  done < <(find "$crate/src" -type f -print0 | sort -z)
  find "$crate/src" -mindepth 1 -type d -empty -delete
fi

# ---------------------------------------------------------------------------------------------
# 4. The alias in the tree's .cargo/config.toml

alias_changed=$(python3 - "$tree/.cargo/config.toml" "$alias_value" "$crate_rel" <<'PY'
import os, re, sys, tomllib
path, value, crate_rel = sys.argv[1:]
line = f'xtask = "{value}"'
text = open(path).read() if os.path.exists(path) else ""
config = tomllib.loads(text)
current = config.get("alias", {}).get("xtask")
if current == value:
    print("")
    sys.exit()
if current is not None and crate_rel not in str(current):
    sys.exit(f"install-into-tree: error: {path} already has an xtask alias ({current!r}) that is "
             "not this installer's; remove it and run the installer again")
lines = text.splitlines(keepends=True)
ours = [i for i, l in enumerate(lines) if re.match(r"\s*xtask\s*=", l)]
headers = [i for i, l in enumerate(lines) if l.strip() == "[alias]"]
if current is not None and len(ours) == 1:
    lines[ours[0]] = line + "\n"
elif current is None and headers:
    lines.insert(headers[0] + 1, line + "\n")
elif current is None and "alias" not in config:
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if lines:
        lines.append("\n")
    lines += ["# `cargo xtask opt-dist …` from the tree's root (opt-dist's ci/install-into-tree.sh)\n",
              "[alias]\n", line + "\n"]
else:
    sys.exit(f"install-into-tree: error: cannot add the xtask alias to {path} (its [alias] "
             f"table is written in a form this installer does not edit); add `{line}` to it")
new = "".join(lines)
check = tomllib.loads(new)
assert check.get("alias", {}).get("xtask") == value, "the edited configuration lost the alias"
assert {k: v for k, v in check.items() if k != "alias"} == {k: v for k, v in config.items() if k != "alias"}
os.makedirs(os.path.dirname(path), exist_ok=True)
open(path, "w").write(new)
print(".cargo/config.toml")
PY
)
[[ -z $alias_changed ]] || changed+=("$alias_changed")

if ((${#changed[@]})); then
  log "updated in $tree: ${changed[*]}"
else
  log "$tree already has this xtask: nothing changed"
fi
log "from $tree run: cargo xtask opt-dist doctor"
