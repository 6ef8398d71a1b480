#!/usr/bin/env bash
# The staged `cargo xtask opt-dist` pipeline for CI systems other than GitHub Actions (which has
# ready workflows in ci/github/). A CI job usually starts on a fresh machine: nothing of the
# build dir of the job before it is there, only what was put into the CI system's artifact
# store. This recipe does what such a job does, one stage per job:
#
#   1. a fresh root: a copy of the source tree without its build dir, and a build dir in it;
#   2. `import` of every stage the artifact store holds (a fresh build dir knows nothing, and a
#      stage needs more than its direct input: the compiler and LLVM the earlier stages left in
#      their build dirs are rebuilt here from the earlier profiles, so all of them are needed);
#   3. the stage itself;
#   4. `export` of that stage into the artifact store (dist: the tarballs, into <store>/dist/).
#
# Usage: ci/opt-dist-recipe.sh [STAGE...] [-- DIST ARGS...]
#   STAGE  rustc-pgo, llvm-pgo, llvm-bolt, rustc-bolt or dist; give one per CI job. Without
#          any, runs all five in order, each in its own fresh root (to try the recipe locally).
#   DIST ARGS  arguments for the final `x.py dist` (only the dist stage uses them), e.g.
#          --host x86_64-unknown-linux-gnu --target x86_64-unknown-linux-gnu
#          --include-default-paths build-manifest bootstrap
#
# Environment:
#   OPT_DIST_TREE       the rust source tree (required), with the xtask installed in it
#                       (ci/install-into-tree.sh) unless OPT_DIST_XTASK names a binary. It is only
#                       read: each stage runs in a copy.
#   OPT_DIST_ARTIFACTS  the directory standing in for the artifact store (required): <stage>/ per
#                       finished stage as `export` writes it, dist/ the toolchain tarballs.
#   OPT_DIST_WORK       where the fresh roots are made, <work>/<stage>/ (default: a new directory
#                       under ${TMPDIR:-/tmp}). A root that exists already is refused, not reused.
#   OPT_DIST_XTASK      how to run the xtask (default: `cargo xtask`, run in the root, which builds
#                       the installed xtask there; a binary built once saves that build per job).
#   OPT_DIST_OPTIONS    options for every opt-dist call, word-split, e.g. `--llvm-dir
#                       /usr/lib/llvm-22` or `--use-bolt false`: import and export check the
#                       stages against the options of the run, so all calls get the same ones.
set -euo pipefail

all_stages=(rustc-pgo llvm-pgo llvm-bolt rustc-bolt dist)

stages=()
while (($#)); do
  case $1 in
    --) shift; break ;;
    rustc-pgo | llvm-pgo | llvm-bolt | rustc-bolt | dist) stages+=("$1"); shift ;;
    *) echo "opt-dist-recipe: unknown stage \`$1\` (one of: ${all_stages[*]})" >&2; exit 2 ;;
  esac
done
dist_args=("$@")
((${#stages[@]})) || stages=("${all_stages[@]}")

: "${OPT_DIST_TREE:?names the rust source tree}"
: "${OPT_DIST_ARTIFACTS:?names the directory standing in for the artifact store}"
tree=$(cd "$OPT_DIST_TREE" && pwd)
mkdir -p "$OPT_DIST_ARTIFACTS"
store=$(cd "$OPT_DIST_ARTIFACTS" && pwd)
work=${OPT_DIST_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/opt-dist-recipe.XXXXXX")}
mkdir -p "$work"
work=$(cd "$work" && pwd)
read -r -a xtask <<<"${OPT_DIST_XTASK:-cargo xtask}"
read -r -a options <<<"${OPT_DIST_OPTIONS:-}"

run_stage() {
  local stage=$1 root=$work/$1
  if [[ -e $root ]]; then
    echo "opt-dist-recipe: $root exists; a stage runs in a fresh root (remove it, or set OPT_DIST_WORK)" >&2
    exit 1
  fi
  echo "opt-dist-recipe: $stage in the fresh root $root" >&2
  mkdir -p "$root"
  # The tree's own build dir stays behind: a fresh job has none.
  tar -C "$tree" --exclude=./build -cf - . | tar -C "$root" -xf -

  # --build-dir inside the root, so a build dir that bootstrap.toml puts elsewhere is not
  # shared between the roots.
  opt_dist() { (cd "$root" && "${xtask[@]}" opt-dist --src "$root" --build-dir "$root/build" "${options[@]}" "$@"); }

  if compgen -G "$store/*/manifest.json" >/dev/null; then
    opt_dist import "$store"
  fi
  if [[ $stage == dist ]]; then
    opt_dist dist -- "${dist_args[@]}"
    mkdir -p "$store/dist"
    cp "$root/build/dist/"* "$root/build/opt-dist/dist/manifest.json" "$store/dist/"
  else
    opt_dist "$stage"
    opt_dist export "$store" --stage "$stage"
  fi
}

for stage in "${stages[@]}"; do
  run_stage "$stage"
done
echo "opt-dist-recipe: ${stages[*]} done; artifact store $store" >&2
