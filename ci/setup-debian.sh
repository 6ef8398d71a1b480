#!/usr/bin/env bash
# Installs what `cargo xtask opt-dist` and its tests need on Debian (bookworm or newer):
# the LLVM 22 tools that match rustc 1.95's LLVM (llvm-profdata, llvm-bolt, merge-fdata),
# clang-22 for the miniature tree's LLVM stand-in, and python3 for x.py. llvm-14 is only for a
# test: its llvm-profdata is of the wrong LLVM major, which the xtask must refuse.
# llvm-22 also provides /usr/bin/llvm-config-22, which ci/prepare-real-tree.sh configures as
# the real tree's LLVM (checked with `dpkg -S`). python3-yaml is for ci/check-workflows.py,
# which reads the GitHub workflow templates.
# Idempotent: it installs only what is missing.
set -euo pipefail

packages=(llvm-22 bolt-22 clang-22 python3 python3-yaml xz-utils curl llvm-14)
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

command -v cargo >/dev/null || { echo "setup-debian: cargo not found: install Rust with rustup first" >&2; exit 1; }
echo "setup-debian: ready ($(/usr/lib/llvm-22/bin/llvm-profdata merge --version | grep -o 'LLVM version [0-9.]*'))" >&2
