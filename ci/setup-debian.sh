#!/usr/bin/env bash
# Installs what `cargo xtask opt-dist` and its tests need on Debian (bookworm or newer):
# the LLVM 22 tools that match rustc 1.95's LLVM (llvm-profdata, llvm-bolt, merge-fdata),
# clang-22 for the miniature tree's LLVM stand-in, and python3 for x.py. llvm-14 is only for a
# test: its llvm-profdata is of the wrong LLVM major, which the xtask must refuse; strace too:
# a test kills a dist at each of its renames.
# llvm-22 also provides /usr/bin/llvm-config-22, which ci/prepare-real-tree.sh configures as
# the real tree's LLVM (checked with `dpkg -S`). python3-yaml is for ci/check-workflows.py,
# which reads the GitHub workflow templates.
# --with-zizmor: also zizmor, the GitHub Actions linter that .ci/run (and a test) runs on the
# templates, from PyPI at the exact version below. Only on request: the templates' own jobs run
# this script and need no linter, nor a python3 that pip may install into.
# Idempotent: it installs only what is missing (zizmor also when another version is there).
set -euo pipefail

with_zizmor=false
for arg in "$@"; do
  case $arg in
    --with-zizmor) with_zizmor=true ;;
    *) echo "usage: ci/setup-debian.sh [--with-zizmor]" >&2; exit 2 ;;
  esac
done

packages=(llvm-22 bolt-22 clang-22 python3 python3-yaml xz-utils curl llvm-14 strace)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup-debian: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# zizmor is a static binary in a wheel: pip puts `zizmor` beside the python3 on PATH (with pyenv,
# as in CI, into the version's bin/, reached by the shim that `pyenv rehash` makes). That python3
# must be one pip may install into (pyenv's, a venv's), not Debian's own.
zizmor_version=1.32.0
if $with_zizmor && [[ $(zizmor --version 2>/dev/null) != "zizmor $zizmor_version" ]]; then
  echo "setup-debian: installing zizmor $zizmor_version with $(command -v python3)" >&2
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    "zizmor==$zizmor_version"
  if command -v pyenv >/dev/null; then pyenv rehash; fi
  hash -r
  if [[ $(zizmor --version 2>/dev/null) != "zizmor $zizmor_version" ]]; then
    echo "setup-debian: zizmor $zizmor_version installed, but the zizmor on PATH is" \
      "$(command -v zizmor || echo none): put pip's scripts directory on PATH" >&2
    exit 1
  fi
fi

command -v cargo >/dev/null || { echo "setup-debian: cargo not found: install Rust with rustup first" >&2; exit 1; }
ready=$(/usr/lib/llvm-22/bin/llvm-profdata merge --version | grep -o 'LLVM version [0-9.]*')
if $with_zizmor; then ready+=", $(zizmor --version)"; fi
echo "setup-debian: ready ($ready)" >&2
