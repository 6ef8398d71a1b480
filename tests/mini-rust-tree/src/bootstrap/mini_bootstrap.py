"""Miniature stand-in for rustc's bootstrap (x.py), used as a test fixture.

It accepts the subset of the real 1.95.0 command line that a PGO/BOLT driver uses, rejects
everything else the way bootstrap does, and really compiles the mini compiler in this tree
(`compiler/`, `src/llvm-project/`, `src/librustdoc/`, `src/tools/`) with the requested
instrumentation. Every invocation is appended to `.mini-tree/record.jsonl`.
Only the Python standard library is used.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORD_ENV_KEYS = [
    "LLVM_PROFILE_DIR",
    "LLVM_PROFILE_FILE",
    "RUSTC",
    "RUSTC_BOOTSTRAP",
    "RUST_BACKTRACE",
    "CARGO_TARGET_DIR",
    "RUST_BOOTSTRAP_CONFIG",
]
SUBCOMMANDS = ("build", "dist", "test")
# Every component the mini bootstrap can build with PGO; which of them the `[pgo]` table accepts
# is `pgo_components()`.
PGO_COMPONENTS = ("rustc", "rustdoc", "cargo", "llvm", "clippy")
# The table as upstream added it (July 2026, before clippy got its key).
DEFAULT_TABLE_COMPONENTS = ("rustc", "rustdoc", "cargo", "llvm")
TEST_SUITES = (
    "ui",
    "codegen-llvm",
    "assembly-llvm",
    "codegen-units",
    "incremental",
    "mir-opt",
    "pretty",
    "crashes",
    "run-make",
    "rustdoc-html",
)
DIST_DEFAULT = ("rustc", "rust-std", "cargo", "rust-src")
DIST_ALL = ("rustc", "rust-std", "cargo", "rust-src", "build-manifest", "bootstrap")
BUILD_PATHS = {
    "library/std": "std",
    "library": "std",
    "compiler/rustc": "rustc",
    "compiler": "rustc",
    "rustdoc": "rustdoc",
    "src/tools/rustdoc": "rustdoc",
    "src/librustdoc": "rustdoc",
    "cargo": "cargo",
    "src/tools/cargo": "cargo",
    "clippy": "clippy",
    "src/tools/clippy": "clippy",
}
DIST_PATHS = {name: name for name in DIST_ALL}
DIST_PATHS.update({"src/tools/cargo": "cargo", "compiler/rustc": "rustc", "library/std": "rust-std",
                   "src/tools/build-manifest": "build-manifest", "src/bootstrap": "bootstrap"})

# Known configuration keys and their types, for both `--set` and bootstrap.toml.
BOOL, STR, STR_LIST = "a boolean", "a string", "a sequence"
SCHEMA = {
    "build": {
        "metrics": BOOL,
        "extended": BOOL,
        "local-rebuild": BOOL,
        "compiletest-allow-stage0": BOOL,
        "rustc": STR,
        "cargo": STR,
        "build-dir": STR,
    },
    "llvm": {"thin-lto": BOOL, "link-shared": BOOL, "ldflags": STR},
    "rust": {
        "llvm-bitcode-linker": BOOL,
        "codegen-backends": STR_LIST,
        "deny-warnings": BOOL,
        "channel": STR,
        "lld": BOOL,
        "verbose-tests": BOOL,
    },
}
TARGET_SCHEMA = {"llvm-config": STR}
PGO_SCHEMA = {"generate": STR, "use": STR}
# Sections that real bootstrap knows; unknown keys inside the sections above are rejected, as
# bootstrap's deny_unknown_fields does.
TOP_LEVEL_FIELDS = ("change-id", "profile", "build", "install", "llvm", "gcc", "rust", "target", "dist")


class BootstrapExit(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message, code=1):
    raise BootstrapExit(message, code)


def panic(message):
    raise BootstrapExit(
        "\nthread 'main' panicked at src/bootstrap/src/core/config/config.rs:\n"
        + message
        + "\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
        + "Build completed unsuccessfully",
        1,
    )


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

class Flags:
    def __init__(self):
        self.subcommand = None
        self.paths = []
        self.target = []
        self.host = []
        self.build = None
        self.stage = None
        self.keep_stage = []
        self.set = []
        self.dry_run = False
        self.skip = []
        self.include_default_paths = False
        self.reproducible_artifact = []
        self.enable_bolt_settings = False
        self.build_dir = None
        self.config = None
        self.verbose = 0
        self.jobs = None
        self.rust_profile_generate = None
        self.rust_profile_use = None
        self.llvm_profile_generate = False
        self.llvm_profile_use = None


def parse_usize(flag, metavar, value):
    if value == "":
        fail(f"error: invalid value '' for '{flag} <{metavar}>': cannot parse integer from empty string")
    if not value.isdigit():
        fail(f"error: invalid value '{value}' for '{flag} <{metavar}>': invalid digit found in string")
    return int(value)


def parse_cli(argv, mode):
    f = Flags()
    value_flags = {
        "--target": "TARGET",
        "--host": "HOST",
        "--build": "BUILD",
        "--stage": "N",
        "--keep-stage": "N",
        "--set": "section.option=value",
        "--skip": "PATH",
        "--exclude": "PATH",
        "--reproducible-artifact": "PATH",
        "--build-dir": "DIR",
        "--config": "FILE",
        "-j": "JOBS",
        "--jobs": "JOBS",
    }
    bool_flags = {"--dry-run", "--include-default-paths", "--enable-bolt-settings", "--verbose"}
    if mode == "legacy":
        value_flags.update({
            "--rust-profile-generate": "PROFILE",
            "--rust-profile-use": "PROFILE",
            "--llvm-profile-use": "PROFILE",
        })
        bool_flags.add("--llvm-profile-generate")
    i = 0
    only_positional = False
    while i < len(argv):
        arg = argv[i]
        i += 1
        if only_positional or not arg.startswith("-") or arg == "-":
            if f.subcommand is None:
                if arg not in SUBCOMMANDS:
                    fail(f"error: unrecognized subcommand '{arg}'\n\nUsage: x.py <subcommand> [options] [<paths>...]\n\nFor more information, try '--help'.")
                f.subcommand = arg
            else:
                f.paths.append(arg)
            continue
        if arg == "--":
            only_positional = True
            continue
        if arg in ("-h", "--help"):
            fail("Usage: x.py <build|dist|test> [options] [<paths>...]\n\n(mini bootstrap fixture: see README.md)", 0)
        if len(arg) > 1 and arg[1] != "-" and set(arg[1:]) == {"v"}:
            f.verbose += len(arg) - 1
            continue
        name, eq, inline = arg.partition("=")
        if name.startswith("-j") and name != "-j" and name[2:].isdigit() and not eq:
            f.jobs = int(name[2:])
            continue
        if name in bool_flags:
            if eq:
                fail(f"error: unexpected value '{inline}' for '{name}' found; no more were expected")
            if name == "--dry-run":
                f.dry_run = True
            elif name == "--include-default-paths":
                f.include_default_paths = True
            elif name == "--enable-bolt-settings":
                f.enable_bolt_settings = True
            elif name == "--verbose":
                f.verbose += 1
            elif name == "--llvm-profile-generate":
                f.llvm_profile_generate = True
            continue
        if name in value_flags:
            metavar = value_flags[name]
            if eq:
                value = inline
            else:
                if i >= len(argv) or (argv[i].startswith("-") and argv[i] != "-"):
                    fail(f"error: a value is required for '{name} <{metavar}>' but none was supplied\n\nFor more information, try '--help'.")
                value = argv[i]
                i += 1
            if name == "--target":
                f.target += [t for t in value.split(",") if t]
            elif name == "--host":
                f.host += [t for t in value.split(",") if t]
            elif name == "--build":
                f.build = value
            elif name == "--stage":
                f.stage = parse_usize(name, metavar, value)
            elif name == "--keep-stage":
                f.keep_stage.append(parse_usize(name, metavar, value))
            elif name == "--set":
                f.set.append(value)
            elif name in ("--skip", "--exclude"):
                f.skip.append(value)
            elif name == "--reproducible-artifact":
                f.reproducible_artifact.append(value)
            elif name == "--build-dir":
                f.build_dir = value
            elif name == "--config":
                f.config = value
            elif name in ("-j", "--jobs"):
                f.jobs = parse_usize(name, metavar, value)
            elif name == "--rust-profile-generate":
                f.rust_profile_generate = value
            elif name == "--rust-profile-use":
                f.rust_profile_use = value
            elif name == "--llvm-profile-use":
                f.llvm_profile_use = value
            continue
        fail(f"error: unexpected argument '{name}' found\n\nUsage: x.py <subcommand> [options] [<paths>...]\n\nFor more information, try '--help'.")
    if f.subcommand is None:
        fail("error: 'x.py' requires a subcommand but one was not provided\n  [subcommands: build, dist, test]\n\nUsage: x.py <subcommand> [options] [<paths>...]")
    return f


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

def type_name(value):
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, list):
        return "sequence"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def check_type(value, expected):
    if expected == BOOL:
        return isinstance(value, bool)
    if expected == STR:
        return isinstance(value, str)
    if expected == STR_LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return True


def parse_override_value(value):
    # Like bootstrap: try the value as TOML, otherwise take it as a plain string.
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def expected_list(fields):
    return ", ".join(f"`{x}`" for x in fields)


def apply_override(config, option, mode):
    if "=" not in option:
        fail(f"failed to parse override `{option}`: expected `section.option=value`")
    key, _, raw = option.partition("=")
    key = key.strip()
    value = parse_override_value(raw.strip())
    parts = key.split(".")

    def err(msg):
        fail(f"failed to parse override `{option}`: {msg}")

    top = parts[0]
    if top == "pgo" and mode == "pgo-table":
        accepted = pgo_components()
        if len(parts) != 3:
            err(f"unknown field `{parts[-1]}`, expected one of {expected_list(accepted)}")
        comp, leaf = parts[1], parts[2]
        if comp not in accepted:
            err(f"unknown field `{comp}`, expected one of {expected_list(accepted)}")
        if leaf not in PGO_SCHEMA:
            err(f"unknown field `{leaf}`, expected `generate` or `use`")
        if not isinstance(value, str):
            err(f"invalid type: {type_name(value)}, expected a string")
        config.setdefault("pgo", {}).setdefault(comp, {})[leaf] = value
        return
    if top == "target" and len(parts) == 3:
        leaf = parts[2]
        if leaf not in TARGET_SCHEMA:
            err(f"unknown field `{leaf}`, expected one of {expected_list(TARGET_SCHEMA)}")
        if not check_type(value, TARGET_SCHEMA[leaf]):
            err(f"invalid type: {type_name(value)}, expected {TARGET_SCHEMA[leaf]}")
        config.setdefault("target", {}).setdefault(parts[1], {})[leaf] = value
        return
    if top not in SCHEMA:
        fields = list(TOP_LEVEL_FIELDS) + (["pgo"] if mode == "pgo-table" else [])
        err(f"unknown field `{top}`, expected one of {expected_list(fields)}")
    if len(parts) != 2:
        err(f"unknown field `{parts[-1]}`, expected one of {expected_list(SCHEMA[top])}")
    leaf = parts[1]
    if leaf not in SCHEMA[top]:
        err(f"unknown field `{leaf}`, expected one of {expected_list(SCHEMA[top])}")
    if not check_type(value, SCHEMA[top][leaf]):
        err(f"invalid type: {type_name(value)}, expected {SCHEMA[top][leaf]}")
    config.setdefault(top, {})[leaf] = value


def load_config(flags, mode):
    path = flags.config or os.environ.get("RUST_BOOTSTRAP_CONFIG")
    if path:
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            fail(f"ERROR: config file `{path}` not found")
    else:
        for name in ("bootstrap.toml", "config.toml"):
            candidate = os.path.join(ROOT, name)
            if os.path.isfile(candidate):
                path = candidate
                break
    config = {}
    if path:
        try:
            with open(path, "rb") as fh:
                config = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            fail(f"ERROR: failed to parse TOML configuration '{os.path.basename(path)}': {e}")
        if "pgo" in config and mode != "pgo-table":
            fail(f"ERROR: failed to parse TOML configuration '{os.path.basename(path)}': unknown field `pgo`")
        for section, fields in SCHEMA.items():
            for key, value in (config.get(section) or {}).items():
                if key not in fields:
                    fail(f"ERROR: failed to parse TOML configuration '{os.path.basename(path)}': "
                         f"unknown field `{key}`, expected one of {expected_list(fields)}")
                if not check_type(value, fields[key]):
                    fail(f"ERROR: failed to parse TOML configuration '{os.path.basename(path)}': "
                         f"invalid type: {type_name(value)}, expected {fields[key]} for key `{section}.{key}`")
        for comp, table in (config.get("pgo") or {}).items():
            if comp not in pgo_components():
                fail(f"ERROR: failed to parse TOML configuration '{os.path.basename(path)}': unknown field `{comp}`")
            for leaf in table:
                if leaf not in PGO_SCHEMA:
                    fail(f"ERROR: failed to parse TOML configuration '{os.path.basename(path)}': unknown field `{leaf}`")
    for option in flags.set:
        apply_override(config, option, mode)
    return config, path


def pgo_components():
    """The components the `[pgo]` table accepts: `src/bootstrap/pgo-components` (one word per
    component, whitespace-separated) when present, so that a tree can be like master with or
    without `pgo.clippy`; else the table as upstream first had it."""
    listed = read_text("src/bootstrap/pgo-components", "").split()
    for comp in listed:
        if comp not in PGO_COMPONENTS:
            fail(f"ERROR: unknown component `{comp}` in src/bootstrap/pgo-components")
    return tuple(listed) if listed else DEFAULT_TABLE_COMPONENTS


def read_text(rel, default=None):
    p = os.path.join(ROOT, rel)
    try:
        with open(p) as fh:
            return fh.read().strip()
    except FileNotFoundError:
        if default is not None:
            return default
        fail(f"ERROR: missing `{rel}` in the source tree")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_sources(paths):
    h = hashlib.sha256()
    for rel in paths:
        full = os.path.join(ROOT, rel)
        files = []
        if os.path.isdir(full):
            for dirpath, _, names in os.walk(full):
                files += [os.path.join(dirpath, n) for n in names]
        elif os.path.exists(full):
            files = [full]
        for fp in sorted(files):
            h.update(os.path.relpath(fp, ROOT).encode())
            with open(fp, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def rustc_vv(rustc):
    try:
        out = subprocess.run([rustc, "-vV"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"ERROR: failed to run `{rustc} -vV`: {e}")
    info = {}
    for line in out.splitlines():
        if ": " in line:
            k, _, v = line.partition(": ")
            info[k] = v.strip()
    return info


class Context:
    pass


def profile_path(p):
    if p is None or p == "":
        return None
    return os.path.abspath(os.path.expanduser(p))


def make_context(flags, mode):
    ctx = Context()
    ctx.flags = flags
    ctx.mode = mode
    ctx.config, ctx.config_path = load_config(flags, mode)
    cfg = ctx.config
    build_cfg = cfg.get("build") or {}
    llvm_cfg = cfg.get("llvm") or {}
    rust_cfg = cfg.get("rust") or {}

    ctx.version = read_text("version")
    ctx.commit_hash = read_text("git-commit-hash", "0" * 40)
    info = read_text("git-commit-info", "").splitlines()
    ctx.short_hash = info[1] if len(info) > 1 else ctx.commit_hash[:9]
    ctx.commit_date = info[2] if len(info) > 2 else "1970-01-01"
    ctx.channel = rust_cfg.get("channel", "stable")
    ctx.deny_warnings = rust_cfg.get("deny-warnings", True)
    ctx.link_shared = llvm_cfg.get("link-shared", True)
    ctx.ldflags = llvm_cfg.get("ldflags", "")
    ctx.metrics = build_cfg.get("metrics", False)
    ctx.allow_stage0_tests = build_cfg.get("compiletest-allow-stage0", False)

    def cfg_path(p):
        p = os.path.expanduser(p)
        return p if os.path.isabs(p) else os.path.join(ROOT, p)

    ctx.cfg_rustc = cfg_path(build_cfg["rustc"]) if build_cfg.get("rustc") else None
    ctx.cfg_cargo = cfg_path(build_cfg["cargo"]) if build_cfg.get("cargo") else None
    if flags.build_dir:
        ctx.build_dir = os.path.abspath(flags.build_dir)
    elif build_cfg.get("build-dir"):
        ctx.build_dir = cfg_path(build_cfg["build-dir"])
    else:
        ctx.build_dir = os.path.join(ROOT, "build")

    # Host triple: --build, else the host of the toolchain's rustc.
    ctx._toolchain = None
    if flags.build:
        ctx.host = flags.build
    else:
        ctx.host = toolchain(ctx)["host"]
    for t in flags.host + flags.target:
        if t != ctx.host:
            fail(f"ERROR: the mini bootstrap can only build for the build triple `{ctx.host}`, not `{t}`")
    target_cfg = (cfg.get("target") or {}).get(ctx.host) or {}
    ctx.llvm_config = cfg_path(target_cfg["llvm-config"]) if target_cfg.get("llvm-config") else None

    # PGO settings, from legacy flags or the `pgo` table.
    ctx.pgo = {c: {"generate": None, "use": None} for c in PGO_COMPONENTS}
    if mode == "legacy":
        ctx.pgo["rustc"]["generate"] = profile_path(flags.rust_profile_generate)
        ctx.pgo["rustc"]["use"] = profile_path(flags.rust_profile_use)
        if flags.llvm_profile_generate:
            ctx.pgo["llvm"]["generate"] = profile_path(os.environ.get("LLVM_PROFILE_DIR")) or ""
        ctx.pgo["llvm"]["use"] = profile_path(flags.llvm_profile_use)
    else:
        for comp, table in (cfg.get("pgo") or {}).items():
            for leaf in ("generate", "use"):
                if table.get(leaf):
                    ctx.pgo[comp][leaf] = profile_path(table[leaf])
    # Fault injection for the driver's tests: a bootstrap that silently drops the request to
    # instrument rustc, so training writes no raw profiles.
    if os.environ.get("MINI_TREE_FAULT") == "uninstrumented":
        ctx.pgo["rustc"]["generate"] = None
    for comp, p in ctx.pgo.items():
        if p["generate"] is not None and p["use"] is not None:
            if mode == "legacy":
                what = "rust" if comp == "rustc" else comp
                panic(f"Cannot use both `{what}-profile-generate` and `{what}-profile-use`")
            panic(f"Cannot use both `pgo.{comp}.generate` and `pgo.{comp}.use`")
    ctx.bolt = flags.enable_bolt_settings
    ctx.keep_stage = set(flags.keep_stage)
    ctx.stamps = {}
    ctx.steps = []
    ctx.built = {}
    ctx.reused = []
    ctx.start = time.time()
    return ctx


def toolchain(ctx):
    """The Rust toolchain on PATH: stands in for bootstrap's downloaded stage0."""
    if ctx._toolchain is None:
        rustc = shutil.which("rustc")
        if not rustc:
            fail("ERROR: no `rustc` found on PATH (needed as the stage0 compiler)")
        info = rustc_vv(rustc)
        sysroot = subprocess.run([rustc, "--print", "sysroot"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        ctx._toolchain = {
            "host": info.get("host", "x86_64-unknown-linux-gnu"),
            "sysroot": sysroot,
            "rustc": os.path.join(sysroot, "bin", "rustc"),
            "cargo": os.path.join(sysroot, "bin", "cargo"),
        }
    return ctx._toolchain


# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------

def normalize_path(p):
    if os.path.isabs(p):
        try:
            rel = os.path.relpath(p, ROOT)
        except ValueError:
            rel = p
        if not rel.startswith(".."):
            p = rel
    while p.startswith("./"):
        p = p[2:]
    return p.rstrip("/") or "."


def select_build_paths(flags):
    chosen = []
    for raw in flags.paths:
        p = normalize_path(raw)
        if p not in BUILD_PATHS:
            fail(f"error: no `build` rules matched '{raw}'\nHELP: run `x.py build --help --verbose` to show a list of available paths")
        chosen.append(BUILD_PATHS[p])
    if not chosen or flags.include_default_paths:
        chosen.insert(0, "std")
    skips = {BUILD_PATHS.get(normalize_path(s)) for s in flags.skip}
    return [c for i, c in enumerate(chosen) if c not in skips and c not in chosen[:i]]


def select_dist_paths(flags):
    chosen = []
    for raw in flags.paths:
        p = normalize_path(raw)
        if p not in DIST_PATHS:
            fail(f"error: no `dist` rules matched '{raw}'\nHELP: run `x.py dist --help --verbose` to show a list of available paths")
        chosen.append(DIST_PATHS[p])
    if not flags.paths or flags.include_default_paths:
        chosen = list(DIST_DEFAULT) + chosen
    skips = {DIST_PATHS.get(normalize_path(s)) for s in flags.skip}
    return [c for i, c in enumerate(chosen) if c not in skips and c not in chosen[:i]]


def select_test_paths(flags):
    """Returns [(suite, filter-or-None)]."""
    selected = []
    for raw in flags.paths:
        p = normalize_path(raw)
        parts = p.split("/")
        if len(parts) >= 2 and parts[0] == "tests" and parts[1] in TEST_SUITES:
            selected.append((parts[1], "/".join(parts[2:]) or None))
        elif p in TEST_SUITES:
            selected.append((p, None))
        else:
            fail(f"error: no `test` rules matched '{raw}'\nHELP: run `x.py test --help --verbose` to show a list of available paths")
    if not selected:
        selected = [(s, None) for s in TEST_SUITES]
    skips = [normalize_path(s) for s in flags.skip]
    result = []
    for suite, filt in selected:
        if f"tests/{suite}" in skips or suite in skips:
            continue
        result.append((suite, filt))
    return result, skips


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def log(msg):
    print(msg, flush=True)


def run_cmd(ctx, cmd, env=None, cwd=None):
    if ctx.flags.verbose:
        log("running: " + " ".join(str(c) for c in cmd))
    try:
        r = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd)
    except OSError as e:
        fail(f"\nERROR: failed to execute `{cmd[0]}`: {e}\nBuild completed unsuccessfully")
    if r.returncode != 0:
        fail(f"\nCommand `{' '.join(str(c) for c in cmd)}` failed with exit status: {r.returncode}\n"
             f"Build completed unsuccessfully in {elapsed(ctx)}")


def elapsed(ctx):
    s = int(time.time() - ctx.start)
    return f"{s // 3600}:{s // 60 % 60:02}:{s % 60:02}"


class Step:
    def __init__(self, ctx, name):
        self.ctx, self.name = ctx, name

    def __enter__(self):
        self.t = time.time()
        return self

    def __exit__(self, *exc):
        self.ctx.steps.append({"type": self.name, "duration_excluding_children_sec": round(time.time() - self.t, 3)})


def host_dir(ctx, *parts):
    return os.path.join(ctx.build_dir, ctx.host, *parts)


def stage0_tools(ctx):
    """Stage0 rustc/cargo: configured ones, or symlinks into the build dir (bootstrap's download)."""
    if ctx.cfg_rustc and ctx.cfg_cargo:
        return ctx.cfg_rustc, ctx.cfg_cargo
    tc = toolchain(ctx)
    bindir = host_dir(ctx, "stage0", "bin")
    os.makedirs(bindir, exist_ok=True)
    for name in ("rustc", "cargo"):
        link = os.path.join(bindir, name)
        if os.path.islink(link) and os.readlink(link) == tc[name]:
            continue
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(tc[name], link)
    rustc = ctx.cfg_rustc or os.path.join(bindir, "rustc")
    cargo = ctx.cfg_cargo or os.path.join(bindir, "cargo")
    return rustc, cargo


def find_clang():
    for name in ("clang-22", "clang"):
        p = shutil.which(name)
        if p:
            return p
    if os.path.exists("/usr/lib/llvm-22/bin/clang"):
        return "/usr/lib/llvm-22/bin/clang"
    fail("ERROR: no clang found (the mini LLVM is built with clang-22)")


def clang_tool(clang, tool):
    cand = os.path.join(os.path.dirname(os.path.realpath(clang)), tool)
    if os.path.exists(cand):
        return cand
    for name in (tool + "-22", tool):
        p = shutil.which(name)
        if p:
            return p
    return None


def clang_version(clang):
    out = subprocess.run([clang, "-dM", "-E", "-x", "c", os.devnull], capture_output=True, text=True).stdout
    v = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("__clang_major__", "__clang_minor__", "__clang_patchlevel__"):
            v[parts[1]] = parts[2]
    return v.get("__clang_major__", "0"), v.get("__clang_minor__", "0"), v.get("__clang_patchlevel__", "0")


def profile_runtime(clang):
    try:
        rtdir = subprocess.run([clang, "--print-runtime-dir"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"ERROR: cannot locate clang's runtime directory: {e}")
    path = os.path.join(rtdir, "libclang_rt.profile-x86_64.a")
    if not os.path.exists(path):
        fail(f"ERROR: clang profile runtime `{path}` not found")
    return path


def llvm_lib_name(ctx, major, minor):
    return f"libLLVM.so.{major}.{minor}-rust-{ctx.version}-{ctx.channel}"


LLVM_CONFIG_SCRIPT = """#!/usr/bin/env python3
# llvm-config of the mini LLVM (generated by the mini bootstrap).
import os, sys
PREFIX = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSWERS = {{
    "--version": "{version}",
    "--prefix": PREFIX,
    "--bindir": os.path.join(PREFIX, "bin"),
    "--libdir": os.path.join(PREFIX, "lib"),
    "--includedir": os.path.join(PREFIX, "include"),
    "--host-target": "{host}",
    "--shared-mode": "{shared_mode}",
    "--libnames": "{libname}",
    "--libs": "-lLLVM-{major}",
    "--ldflags": "-L" + os.path.join(PREFIX, "lib"),
    "--cxxflags": "-I" + os.path.join(PREFIX, "include"),
    "--components": "core passes regalloc",
    "--targets-built": "X86",
}}
if len(sys.argv) < 2:
    print("usage: llvm-config <OPTION>... [<COMPONENT>...]", file=sys.stderr)
    sys.exit(1)
out = []
for arg in sys.argv[1:]:
    if arg in ANSWERS:
        out.append(ANSWERS[arg])
    elif arg.startswith("-"):
        print("llvm-config: error: unknown option: " + arg, file=sys.stderr)
        sys.exit(1)
print(" ".join(out))
"""


def build_llvm(ctx, want_static):
    """Builds the mini LLVM into <build>/<host>/llvm unless its stamp already exists."""
    clang = find_clang()
    major, minor, patch = clang_version(clang)
    llvm = host_dir(ctx, "llvm")
    libname = llvm_lib_name(ctx, major, minor)
    stamp = os.path.join(llvm, "llvm-finished-building")
    gen, use = ctx.pgo["llvm"]["generate"], ctx.pgo["llvm"]["use"]
    ldflags = ctx.ldflags.split() if ctx.ldflags else []
    if os.path.exists(stamp):
        with open(stamp) as fh:
            info = json.load(fh)
        # Like bootstrap's stamp, it stands for the build dir it is in, wherever that is now (a
        # build dir moved or restored from a cache is up to date too).
        info["shared"] = os.path.join(llvm, "lib", info["libname"])
        info["static"] = os.path.join(llvm, "lib", "libLLVMMini.a")
        if os.path.exists(info["shared"]) and os.path.exists(info["static"]):
            log(f"LLVM for {ctx.host} is up to date (remove {llvm} to rebuild it)")
            ctx.reused.append("llvm")
            return info
    with Step(ctx, "llvm"):
        log(f"Building LLVM for {ctx.host}")
        if os.path.exists(llvm):
            shutil.rmtree(llvm)
        src = os.path.join(ROOT, "src", "llvm-project", "llvm")
        objdir = os.path.join(llvm, "build", "obj")
        for d in (objdir, os.path.join(llvm, "lib"), os.path.join(llvm, "bin"), os.path.join(llvm, "build", "bin")):
            os.makedirs(d, exist_ok=True)
        sources = sorted(os.path.join(src, "lib", f) for f in os.listdir(os.path.join(src, "lib")) if f.endswith(".c"))
        cflags = ["-O2", "-fPIC", "-std=c11", "-Wall", "-I", os.path.join(src, "include")]
        pgo_link = []
        if gen is not None:
            cflags.append(f"-fprofile-generate={gen}" if gen else "-fprofile-generate")
            pgo_link.append(cflags[-1])
        if use is not None:
            cflags.append(f"-fprofile-use={use}")
        run_cmd(ctx, [clang, "-c", *cflags, *sources], cwd=objdir)
        objs = sorted(os.path.join(objdir, f) for f in os.listdir(objdir) if f.endswith(".o"))
        so = os.path.join(llvm, "lib", libname)
        run_cmd(ctx, [clang, "-shared", "-fPIC", *pgo_link, f"-Wl,-soname,{libname}", "-o", so, *objs, *ldflags])
        os.symlink(libname, os.path.join(llvm, "lib", "libLLVM.so"))
        static = os.path.join(llvm, "lib", "libLLVMMini.a")
        ar = clang_tool(clang, "llvm-ar") or shutil.which("ar")
        run_cmd(ctx, [ar, "rcs", static, *objs])
        shutil.copytree(os.path.join(src, "include"), os.path.join(llvm, "include"))
        config = os.path.join(llvm, "bin", "llvm-config")
        with open(config, "w") as fh:
            fh.write(LLVM_CONFIG_SCRIPT.format(version=f"{major}.{minor}.{patch}", host=ctx.host,
                                               shared_mode="shared" if ctx.link_shared else "static",
                                               libname=libname, major=major))
        os.chmod(config, 0o755)
        profdata = clang_tool(clang, "llvm-profdata")
        if profdata:
            os.symlink(profdata, os.path.join(llvm, "build", "bin", "llvm-profdata"))
        info = {
            "libname": libname,
            "shared": so,
            "static": static,
            "profile_generate": gen,
            "profile_use": use,
            "ldflags": ctx.ldflags,
            "bolt_link_flags": "-Wl,-q" in ldflags or "-q" in ldflags or "--emit-relocs" in " ".join(ldflags),
            "clang": clang,
            "version": f"{major}.{minor}.{patch}",
        }
        with open(stamp, "w") as fh:
            json.dump(info, fh, indent=2)
    ctx.built["llvm"] = {"profile_generate": gen, "profile_use": use, "bolt_link_flags": info["bolt_link_flags"]}
    return info


def external_llvm(ctx):
    """`target.<host>.llvm-config` is set: use that (already built) mini LLVM."""
    cfgbin = ctx.llvm_config
    if not os.path.isfile(cfgbin):
        fail(f"ERROR: llvm-config `{cfgbin}` does not exist")
    try:
        version = subprocess.run([cfgbin, "--version"], capture_output=True, text=True, check=True).stdout.strip()
        libdir = subprocess.run([cfgbin, "--libdir"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"ERROR: failed to run `{cfgbin}`: {e}")
    major, minor = (version.split(".") + ["0", "0"])[:2]
    if not major.isdigit() or int(major) < 20:
        fail(f"ERROR: LLVM version {version} is too old; the mini bootstrap needs LLVM 20 or newer")
    libname = llvm_lib_name(ctx, major, minor)
    shared = os.path.join(libdir, libname)
    static = os.path.join(libdir, "libLLVMMini.a")
    if not os.path.exists(shared if ctx.link_shared else static):
        fail(f"ERROR: the LLVM at `{libdir}` (from {cfgbin}) does not contain the mini LLVM library "
             f"`{os.path.basename(shared if ctx.link_shared else static)}`")
    return {"libname": libname, "shared": shared, "static": static, "profile_generate": None, "profile_use": None,
            "ldflags": "", "bolt_link_flags": False, "external": cfgbin, "version": version}


def compiler_env(ctx):
    env = dict(os.environ)
    env.update({
        "MINI_CFG_RELEASE": ctx.version,
        "MINI_CFG_VERSION": f"{ctx.version}-mini",
        "MINI_CFG_COMMIT_HASH": ctx.commit_hash,
        "MINI_CFG_SHORT_HASH": ctx.short_hash,
        "MINI_CFG_COMMIT_DATE": ctx.commit_date,
        "MINI_CFG_HOST": ctx.host,
        "MINI_CFG_CHANNEL": ctx.channel,
    })
    return env


def pgo_flags(ctx, comp):
    flags = []
    p = ctx.pgo[comp]
    if p["generate"] is not None:
        flags.append(f"-Cprofile-generate={p['generate']}")
    if p["use"] is not None:
        flags.append(f"-Cprofile-use={p['use']}")
    return flags


def fingerprint(*parts):
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def profile_fp(path):
    if path and os.path.isfile(path):
        return sha256_file(path)
    return None


def load_stage_stamp(ctx):
    path = os.path.join(ctx.stage_dir, "mini-build.json")
    try:
        with open(path) as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return {"components": {}}


def driver_hash(ctx):
    return hashlib.sha256(f"rustc_driver-{ctx.version}-{ctx.channel}".encode()).hexdigest()[:16]


def base_rustc_flags(ctx):
    # One codegen unit, as upstream's dist-x86_64-linux builder (the one that runs opt-dist)
    # configures rust.codegen-units=1; it also takes a third less CPU than 16 here.
    flags = ["--edition", "2021", "-Copt-level=3", "-Cdebuginfo=0", "-Cprefer-dynamic", "-Ccodegen-units=1"]
    if ctx.deny_warnings:
        flags.append("-Dwarnings")
    return flags


def compiler_kept(ctx):
    return all(s in ctx.keep_stage for s in range(ctx.stage))


def build_compiler(ctx, stamp, rustc0, llvm_info):
    """librustc_driver-<hash>.so + the rustc binary, into stage<N>/{lib,bin}."""
    h = driver_hash(ctx)
    out = host_dir(ctx, f"stage{ctx.stage - 1}-rustc", ctx.host, "release", "deps")
    lib = os.path.join(ctx.stage_dir, "lib")
    bindir = os.path.join(ctx.stage_dir, "bin")
    dylib_name = f"librustc_driver-{h}.so"
    staged = os.path.join(lib, dylib_name)
    staged_rustc = os.path.join(bindir, "rustc")
    old = stamp["components"].get("rustc_driver")

    built = os.path.join(out, dylib_name)
    built_rustc = os.path.join(out, "rustc-main")
    if compiler_kept(ctx):
        if os.path.exists(staged) and os.path.exists(staged_rustc) and old:
            log("Warning: Using a potentially old librustc. This may not behave well.")
            log(f"Skipping stage{ctx.stage} compiler build (--keep-stage {' --keep-stage '.join(map(str, sorted(ctx.keep_stage)))})")
            # Like bootstrap's RustcLink: the kept build outputs are (re)linked into the sysroot.
            if os.path.exists(built):
                link_or_copy(built, staged)
            if os.path.exists(built_rustc):
                link_or_copy(built_rustc, staged_rustc)
            ctx.reused.append("rustc_driver")
            return {**old, "path": staged}
        log(f"Warning: --keep-stage given but no stage{ctx.stage} compiler exists; building it")

    linkage = "shared" if ctx.link_shared else "static"
    flags = base_rustc_flags(ctx) + pgo_flags(ctx, "rustc")
    llvm_link = []
    if ctx.link_shared:
        llvm_link = [f"-Clink-arg={llvm_info['shared']}"]
    else:
        llvm_link = ["-L", f"native={os.path.dirname(llvm_info['static'])}", "-l", "static=LLVMMini"]
        if llvm_info.get("profile_generate") is not None and ctx.pgo["rustc"]["generate"] is None:
            # Instrumented static LLVM needs clang's profiling runtime (rustc only links its own
            # copy when the driver itself is instrumented). `-lc` again for libc_nonshared's atexit.
            runtime = profile_runtime(find_clang())
            llvm_link += ["-Clink-arg=-Wl,-u,__llvm_profile_runtime", f"-Clink-arg={runtime}", "-Clink-arg=-lc"]
    bolt = ["-Clink-args=-Wl,-q"] if ctx.bolt else []
    fp = fingerprint(
        "rustc_driver", sha256_sources(["compiler", "version", "git-commit-hash", "git-commit-info"]), rustc0, flags,
        bolt, linkage, profile_fp(ctx.pgo["rustc"]["use"]), ctx.channel, ctx.host,
        sha256_file(llvm_info["static"]) if not ctx.link_shared else None,
    )
    if old and old.get("fingerprint") == fp and os.path.exists(staged) and os.path.exists(staged_rustc):
        log(f"stage{ctx.stage} compiler artifacts are up to date")
        if os.path.exists(built):
            link_or_copy(built, staged)
        if os.path.exists(built_rustc):
            link_or_copy(built_rustc, staged_rustc)
        ctx.reused.append("rustc_driver")
        return {**old, "path": staged}

    with Step(ctx, "rustc_driver"):
        log(f"Building stage{ctx.stage} compiler artifacts ({ctx.host} -> {ctx.host})")
        os.makedirs(out, exist_ok=True)
        env = compiler_env(ctx)
        run_cmd(ctx, [
            rustc0, *flags, "--crate-type", "dylib", "--crate-name", "rustc_driver",
            f"-Cmetadata={h}", f"-Cextra-filename=-{h}", "--out-dir", out,
            "-Clink-args=-Wl,--disable-new-dtags,-rpath,$ORIGIN", *llvm_link, *bolt,
            os.path.join(ROOT, "compiler", "rustc_driver", "src", "lib.rs"),
        ], env=env)
        run_cmd(ctx, [
            rustc0, *flags, "--crate-type", "bin", "--crate-name", "rustc_main",
            "--extern", f"rustc_driver={built}", "-L", f"dependency={out}",
            "-Clink-args=-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib", "-o", built_rustc,
            os.path.join(ROOT, "compiler", "rustc", "src", "main.rs"),
        ], env=env)
        os.makedirs(lib, exist_ok=True)
        os.makedirs(bindir, exist_ok=True)
        log(f"Assembling stage{ctx.stage} compiler")
        link_or_copy(built, staged)
        link_or_copy(built_rustc, staged_rustc)
    info = {
        "profile_generate": ctx.pgo["rustc"]["generate"],
        "profile_use": ctx.pgo["rustc"]["use"],
        "bolt_link_flags": ctx.bolt,
        "sha256": sha256_file(staged),
        "path": staged,
        "rustc_sha256": sha256_file(staged_rustc),
        "llvm_linkage": linkage,
        "fingerprint": fp,
    }
    ctx.built["rustc_driver"] = {k: info[k] for k in ("profile_generate", "profile_use", "bolt_link_flags")}
    return info


def copy_file(src, dst):
    tmp = dst + ".tmp"
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def link_or_copy(src, dst):
    """Like bootstrap's copy_link: hard-link `src` to `dst` (replacing it), copying if linking fails.

    Tools that rewrite an artifact in place (as opt-dist does with BOLT) therefore change every
    link; replacing a sysroot file with a new inode is undone by the next (re)link.
    """
    if os.path.exists(dst):
        try:
            if os.path.samefile(src, dst):
                return
        except OSError:
            pass
    if os.path.lexists(dst):
        os.remove(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build_tool(ctx, stamp, rustc0, comp, source, dest, links_driver, crate_name):
    """rustdoc / clippy-driver (linking the driver) or cargo (standalone)."""
    old = stamp["components"].get(comp)
    pgo_comp = {"rustdoc": "rustdoc", "cargo": "cargo", "clippy": "clippy"}[comp]
    # In legacy mode only the compiler itself is instrumented.
    flags = base_rustc_flags(ctx) + (pgo_flags(ctx, pgo_comp) if ctx.mode == "pgo-table" else [])
    if not links_driver:
        flags = [f for f in flags if f != "-Cprefer-dynamic"]
    src_dirs = [os.path.dirname(source)] + (["src/librustdoc"] if comp == "rustdoc" else [])
    driver_sha = None
    extra = []
    if links_driver:
        driver = os.path.join(ctx.stage_dir, "lib", f"librustc_driver-{driver_hash(ctx)}.so")
        driver_sha = sha256_file(driver)
        rel = os.path.relpath(os.path.dirname(driver), os.path.dirname(dest))
        extra = ["--extern", f"rustc_driver={driver}", "-L", f"dependency={os.path.dirname(driver)}",
                 f"-Clink-args=-Wl,--disable-new-dtags,-rpath,$ORIGIN/{rel}"]
    if comp in ("rustdoc", "clippy") and compiler_kept(ctx) and old and os.path.exists(dest):
        ctx.reused.append(comp)
        return {**old, "path": dest}
    fp = fingerprint(comp, sha256_sources(src_dirs + ["version"]), rustc0, flags, extra, driver_sha,
                     profile_fp(ctx.pgo[pgo_comp]["use"]), ctx.host)
    if old and old.get("fingerprint") == fp and os.path.exists(dest):
        log(f"{comp} is up to date")
        ctx.reused.append(comp)
        return {**old, "path": dest}
    with Step(ctx, comp):
        log(f"Building tool {comp} (stage{ctx.stage - 1} -> stage{ctx.stage}, {ctx.host})")
        out = host_dir(ctx, f"stage{ctx.stage - 1}-tools", ctx.host, "release")
        os.makedirs(out, exist_ok=True)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        built = os.path.join(out, os.path.basename(dest))
        run_cmd(ctx, [rustc0, *flags, "--crate-type", "bin", "--crate-name", crate_name, *extra,
                      "-o", built, os.path.join(ROOT, source)], env=compiler_env(ctx))
        link_or_copy(built, dest)
    p = ctx.pgo[pgo_comp] if ctx.mode == "pgo-table" else {"generate": None, "use": None}
    info = {"profile_generate": p["generate"], "profile_use": p["use"], "bolt_link_flags": False,
            "sha256": sha256_file(dest), "path": dest, "fingerprint": fp}
    ctx.built[comp] = {k: info[k] for k in ("profile_generate", "profile_use", "bolt_link_flags")}
    return info


def copy_std(ctx, rustc0):
    try:
        sysroot = subprocess.run([rustc0, "--print", "sysroot"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"ERROR: `{rustc0} --print sysroot` failed: {e}")
    libdir = os.path.join(sysroot, "lib", "rustlib", ctx.host, "lib")
    libs = [f for f in os.listdir(libdir) if f.startswith("libstd-") and f.endswith(".so")] if os.path.isdir(libdir) else []
    if not libs:
        fail(f"ERROR: no libstd-*.so in `{libdir}`")
    dest = os.path.join(ctx.stage_dir, "lib")
    os.makedirs(dest, exist_ok=True)
    for f in libs:
        target = os.path.join(dest, f)
        if not os.path.exists(target) or sha256_file(target) != sha256_file(os.path.join(libdir, f)):
            copy_file(os.path.join(libdir, f), target)
    return [os.path.join(dest, f) for f in libs]


def install_llvm(ctx, stamp, llvm_info):
    """Copies libLLVM.so into stage<N>/lib (or removes it when the driver links LLVM statically)."""
    lib = os.path.join(ctx.stage_dir, "lib")
    driver = stamp["components"].get("rustc_driver") or {}
    staged = os.path.join(lib, llvm_info["libname"])
    if driver.get("llvm_linkage", "shared") == "shared":
        os.makedirs(lib, exist_ok=True)
        link_or_copy(llvm_info["shared"], staged)
        path, linkage = staged, "shared"
    else:
        for f in os.listdir(lib) if os.path.isdir(lib) else []:
            if f.startswith("libLLVM.so"):
                os.remove(os.path.join(lib, f))
        path, linkage = llvm_info["static"], "static"
    return {
        "profile_generate": llvm_info.get("profile_generate"),
        "profile_use": llvm_info.get("profile_use"),
        "bolt_link_flags": llvm_info.get("bolt_link_flags", False),
        "sha256": sha256_file(path),
        "path": path,
        "linkage": linkage,
        "ldflags": llvm_info.get("ldflags", ""),
        "external_llvm_config": llvm_info.get("external"),
    }


def write_stage_stamp(ctx, stamp):
    stamp["version"] = ctx.version
    stamp["host"] = ctx.host
    stamp["channel"] = ctx.channel
    stamp["stage"] = ctx.stage
    os.makedirs(ctx.stage_dir, exist_ok=True)
    path = os.path.join(ctx.stage_dir, "mini-build.json")
    with open(path + ".tmp", "w") as fh:
        json.dump(stamp, fh, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def do_build(ctx, components):
    """components: subset of {compiler, rustdoc, cargo, clippy}."""
    rustc0, _ = stage0_tools(ctx)
    stamp = load_stage_stamp(ctx)
    llvm_info = external_llvm(ctx) if ctx.llvm_config else build_llvm(ctx, not ctx.link_shared)
    stamp["components"]["rustc_driver"] = build_compiler(ctx, stamp, rustc0, llvm_info)
    stamp["components"]["llvm"] = install_llvm(ctx, stamp, llvm_info)
    copy_std(ctx, rustc0)
    write_stage_stamp(ctx, stamp)
    # Like bootstrap (`Build::tools_dir`): a stage N tool is built by the stage N-1 compiler
    # into `stage{N-1 + 1}-tools-bin`, so `x.py build --stage 2 cargo` leaves stage2-tools-bin.
    tools_bin = host_dir(ctx, f"stage{ctx.stage}-tools-bin")
    if "rustdoc" in components:
        stamp["components"]["rustdoc"] = build_tool(ctx, stamp, rustc0, "rustdoc", "src/tools/rustdoc/main.rs",
                                                    os.path.join(ctx.stage_dir, "bin", "rustdoc"), True, "rustdoc")
    if "clippy" in components:
        stamp["components"]["clippy"] = build_tool(ctx, stamp, rustc0, "clippy", "src/tools/clippy/src/driver.rs",
                                                   os.path.join(tools_bin, "clippy-driver"), True, "clippy_driver")
    if "cargo" in components:
        stamp["components"]["cargo"] = build_tool(ctx, stamp, rustc0, "cargo", "src/tools/cargo/src/main.rs",
                                                  os.path.join(tools_bin, "cargo"), False, "cargo")
    write_stage_stamp(ctx, stamp)
    return stamp


# ---------------------------------------------------------------------------------------------
# dist
# ---------------------------------------------------------------------------------------------

def tar_xz(ctx, out_path, top, entries):
    """entries: [(path inside `top`, source file)]. Written in place, as rust-installer writes
    its tarballs: a reader during dist can meet a tarball that is not whole yet."""
    with tarfile.open(out_path, "w:xz", preset=1) as tar:
        for arc, src in entries:
            tar.add(src, arcname=f"{top}/{arc}", recursive=False)
    log(f"Dist {os.path.basename(out_path)}")


def text_file(ctx, name, content):
    p = host_dir(ctx, "dist-tmp", name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as fh:
        fh.write(content)
    return p


def do_dist(ctx, parts):
    # Fault injection for the driver's tests: a dist that fails, as a real one may (a full
    # disk, a packaging error), after everything before it went well.
    if os.environ.get("MINI_TREE_FAULT") == "dist":
        fail("error: injected failure of x.py dist (MINI_TREE_FAULT=dist)")
    needs = set()
    if "rustc" in parts:
        needs.add("rustdoc")
    if "cargo" in parts:
        needs.add("cargo")
    stamp = do_build(ctx, needs)
    dist = os.path.join(ctx.build_dir, "dist")
    os.makedirs(dist, exist_ok=True)
    v, host = ctx.version, ctx.host
    version_line = f"{v}-mini ({ctx.short_hash} {ctx.commit_date})"
    with Step(ctx, "dist"):
        common = lambda comp: [("version", text_file(ctx, "version", version_line + "\n")),
                               ("rust-installer-version", text_file(ctx, "installer-version", "3\n")),
                               ("components", text_file(ctx, f"components-{comp}", comp + "\n"))]
        lib = os.path.join(ctx.stage_dir, "lib")
        if "rustc" in parts:
            entries = common("rustc")
            entries.append(("rustc/bin/rustc", os.path.join(ctx.stage_dir, "bin", "rustc")))
            entries.append(("rustc/bin/rustdoc", os.path.join(ctx.stage_dir, "bin", "rustdoc")))
            for f in sorted(os.listdir(lib)):
                if f.startswith(("librustc_driver-", "libLLVM.so", "libstd-")) and not f.endswith(".tmp"):
                    entries.append((f"rustc/lib/{f}", os.path.join(lib, f)))
            # Fault injection: dist packages another build of the compiler's library than the
            # sysroot's (as a dist that rebuilt it after the BOLT step would).
            if os.environ.get("MINI_TREE_FAULT") == "repackaged":
                arc, src = next(e for e in entries if e[0].startswith("rustc/lib/librustc_driver-"))
                other = host_dir(ctx, "dist-tmp", os.path.basename(src))
                os.makedirs(os.path.dirname(other), exist_ok=True)
                shutil.copyfile(src, other)
                with open(other, "ab") as fh:
                    fh.write(b"\0")
                entries[entries.index((arc, src))] = (arc, other)
            tar_xz(ctx, os.path.join(dist, f"rustc-{v}-{host}.tar.xz"), f"rustc-{v}-{host}", entries)
        if "rust-std" in parts:
            entries = common(f"rust-std-{host}")
            for f in sorted(os.listdir(lib)):
                if f.startswith("libstd-") and f.endswith(".so"):
                    entries.append((f"rust-std-{host}/lib/rustlib/{host}/lib/{f}", os.path.join(lib, f)))
            tar_xz(ctx, os.path.join(dist, f"rust-std-{v}-{host}.tar.xz"), f"rust-std-{v}-{host}", entries)
        if "cargo" in parts:
            entries = common("cargo") + [("cargo/bin/cargo", stamp["components"]["cargo"]["path"])]
            tar_xz(ctx, os.path.join(dist, f"cargo-{v}-{host}.tar.xz"), f"cargo-{v}-{host}", entries)
        if "rust-src" in parts:
            entries = common("rust-src")
            base = os.path.join(ROOT, "library")
            for dirpath, _, names in os.walk(base):
                for n in sorted(names):
                    full = os.path.join(dirpath, n)
                    entries.append((f"rust-src/lib/rustlib/src/rust/library/{os.path.relpath(full, base)}", full))
            tar_xz(ctx, os.path.join(dist, f"rust-src-{v}.tar.xz"), f"rust-src-{v}", entries)
        if "bootstrap" in parts:
            entries = common("bootstrap") + [("bootstrap/bin/mini_bootstrap.py", os.path.abspath(__file__))]
            tar_xz(ctx, os.path.join(dist, f"bootstrap-{v}-{host}.tar.xz"), f"bootstrap-{v}-{host}", entries)
        if "build-manifest" in parts:
            manifest = text_file(ctx, "channel-rust.toml",
                                 f'manifest-version = "2"\n[pkg.rustc]\nversion = "{version_line}"\n')
            entries = common("build-manifest") + [("build-manifest/channel-rust.toml", manifest)]
            tar_xz(ctx, os.path.join(dist, f"build-manifest-{v}-{host}.tar.xz"), f"build-manifest-{v}-{host}", entries)
        if ctx.flags.reproducible_artifact:
            entries = common("reproducible-artifacts")
            for p in ctx.flags.reproducible_artifact:
                full = os.path.abspath(p)
                if not os.path.isfile(full):
                    fail(f"ERROR: reproducible artifact `{p}` does not exist")
                entries.append((f"reproducible-artifacts/{os.path.basename(full)}", full))
            tar_xz(ctx, os.path.join(dist, f"reproducible-artifacts-{v}-{host}.tar.xz"),
                   f"reproducible-artifacts-{v}-{host}", entries)


# ---------------------------------------------------------------------------------------------
# test
# ---------------------------------------------------------------------------------------------

SUITE_FLAGS = {
    "ui": [],
    "codegen-llvm": ["-O"],
    "assembly-llvm": ["-O"],
    "codegen-units": ["-O"],
    "incremental": [],
    "mir-opt": ["-O"],
    "pretty": ["--emit=metadata"],
    "crashes": ["--emit=metadata"],
    "run-make": [],
    # Checked like a crate being documented: the frontend, no code generation.
    "rustdoc-html": ["--emit=metadata"],
}


def do_test(ctx, selected, skips):
    if ctx.stage == 0:
        if not ctx.allow_stage0_tests:
            fail("ERROR: cannot test anything on stage 0. Use at least stage 1. If you want to run compiletest "
                 "with an external stage0 toolchain, enable `build.compiletest-allow-stage0`.")
        if not ctx.cfg_rustc:
            fail("ERROR: `x.py test --stage 0` in the mini tree needs `build.rustc` to point at a mini rustc")
        rustc = ctx.cfg_rustc
    else:
        rustc = os.path.join(ctx.stage_dir, "bin", "rustc")
    if not os.path.exists(rustc):
        fail(f"ERROR: compiler `{rustc}` does not exist")
    if ctx.llvm_config and not os.path.isfile(ctx.llvm_config):
        fail(f"ERROR: llvm-config `{ctx.llvm_config}` does not exist")
    failed = []
    for suite, filt in selected:
        with Step(ctx, f"test {suite}"):
            suite_dir = os.path.join(ROOT, "tests", suite)
            log(f"Testing compiletest suite={suite} mode={suite} ({ctx.host} -> {ctx.host})")
            files = []
            for dirpath, _, names in os.walk(suite_dir):
                for n in sorted(names):
                    if n.endswith(".mini"):
                        rel = os.path.relpath(os.path.join(dirpath, n), os.path.join(ROOT, "tests", suite))
                        files.append(rel)
            files.sort()
            if filt:
                files = [f for f in files if f == filt or f.startswith(filt.rstrip("/") + "/")]
            files = [f for f in files if not any(f"tests/{suite}/{f}" == s or f"tests/{suite}/{f}".startswith(s + "/")
                                                 for s in skips)]
            log(f"\nrunning {len(files)} tests")
            out_dir = host_dir(ctx, "test", suite)
            os.makedirs(out_dir, exist_ok=True)
            t0 = time.time()
            bad = []
            if os.path.exists(os.path.join(suite_dir, "FAIL")):
                bad.append("FAIL (marker file present)")
            for f in files:
                name = f.replace("/", "-")[:-5]
                cmd = [rustc, *SUITE_FLAGS[suite], "--crate-name", name.replace("-", "_"), "-o",
                       os.path.join(out_dir, name + ".out"), os.path.join(suite_dir, f)]
                if suite == "incremental":
                    cmd[1:1] = ["-C", f"incremental={os.path.join(out_dir, name + '.incr')}"]
                if suite == "run-make":
                    r0 = subprocess.run([rustc, "-vV"], capture_output=True, text=True)
                    if r0.returncode != 0:
                        bad.append(f)
                        continue
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    bad.append(f)
                    sys.stderr.write(f"---- [{suite}] tests/{suite}/{f} stdout ----\n{r.stderr}\n")
            print("." * (len(files) - len([b for b in bad if b in files])) + "F" * len(bad))
            status = "FAILED" if bad else "ok"
            print(f"test result: {status}. {len(files) - len([b for b in bad if b in files])} passed; {len(bad)} failed; "
                  f"0 ignored; 0 measured; 0 filtered out; finished in {time.time() - t0:.2f}s\n", flush=True)
            if bad:
                print("failures:\n    " + "\n    ".join(f"[{suite}] tests/{suite}/{b}" for b in bad), file=sys.stderr)
                failed.append(suite)
    if failed:
        fail("\n".join(f"error: test suite `tests/{s}` failed" for s in failed)
             + f"\nBuild completed unsuccessfully in {elapsed(ctx)}")


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def write_metrics(ctx, argv, ok):
    path = os.path.join(ctx.build_dir, "metrics.json")
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        data = {"format_version": 1, "invocations": []}
    data["invocations"].append({
        "cmdline": " ".join(["x.py"] + argv),
        "start_time": int(ctx.start),
        "duration_including_children_sec": round(time.time() - ctx.start, 3),
        "success": ok,
        "children": [dict(kind="rustbuild_step", children=[], **s) for s in ctx.steps],
    })
    os.makedirs(ctx.build_dir, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2)


def describe_plan(ctx, what):
    log(f"[dry-run] subcommand: {ctx.flags.subcommand}, stage {ctx.stage}, host {ctx.host}, mode {ctx.mode}")
    log(f"[dry-run] build dir: {ctx.build_dir}")
    log(f"[dry-run] steps: {', '.join(what) if what else '(none)'}")
    for comp, p in ctx.pgo.items():
        if p["generate"] is not None or p["use"] is not None:
            log(f"[dry-run] {comp}: profile-generate={p['generate']} profile-use={p['use']}")
    if ctx.bolt:
        log("[dry-run] rustc_driver linked with -Wl,-q (BOLT settings)")
    if ctx.flags.subcommand != "test":
        kept = compiler_kept(ctx) and ctx.keep_stage
        llvm_state = "external" if ctx.llvm_config else (
            "up to date" if os.path.exists(host_dir(ctx, "llvm", "llvm-finished-building")) else "would be built")
        log(f"[dry-run] LLVM: {llvm_state}; compiler: {'kept' if kept else 'would be built if out of date'}")
    log("Build completed successfully (dry run)")


def run(argv, rec):
    mode = read_text("src/bootstrap/interface", "legacy").strip() or "legacy"
    if mode not in ("legacy", "pgo-table"):
        fail(f"ERROR: unknown PGO interface `{mode}` in src/bootstrap/interface (expected `legacy` or `pgo-table`)")
    flags = parse_cli(argv, mode)
    ctx = make_context(flags, mode)
    sub = flags.subcommand
    default_stage = {"build": 1, "dist": 2, "test": 1}[sub]
    ctx.stage = flags.stage if flags.stage is not None else default_stage
    ctx.stage_dir = host_dir(ctx, f"stage{ctx.stage}")

    if sub == "build":
        parts = select_build_paths(flags)
        if ctx.stage == 0:
            fail("ERROR: cannot build the compiler at stage 0 (the stage0 compiler is downloaded). Use at least stage 1.")
        components = set()
        for p in parts:
            if p in ("rustdoc", "cargo", "clippy"):
                components.add(p)
    elif sub == "dist":
        parts = select_dist_paths(flags)
        if ctx.stage == 0:
            fail("ERROR: cannot run dist on stage 0. Use at least stage 1.")
    else:
        selected, skips = select_test_paths(flags)
        parts = [f"tests/{s}" + (f"/{f}" if f else "") for s, f in selected]

    if flags.dry_run:
        describe_plan(ctx, parts)
        return 0

    ok = False
    try:
        if sub == "build":
            do_build(ctx, components)
        elif sub == "dist":
            do_dist(ctx, parts)
        else:
            do_test(ctx, selected, skips)
        ok = True
    finally:
        if sub in ("build", "dist"):
            rec["built"] = ctx.built
            rec["reused"] = sorted(set(ctx.reused))
        if ctx.metrics:
            write_metrics(ctx, argv, ok)
    log(f"Build completed successfully in {elapsed(ctx)}")
    return 0


def append_record(rec):
    d = os.path.join(ROOT, ".mini-tree")
    os.makedirs(d, exist_ok=True)
    line = json.dumps(rec, sort_keys=True) + "\n"
    fd = os.open(os.path.join(d, "record.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main(argv):
    rec = {
        "tool": "x.py",
        "argv": list(argv),
        "cwd": os.getcwd(),
        "env": {k: os.environ[k] for k in RECORD_ENV_KEYS if k in os.environ},
    }
    code = 1
    try:
        code = run(argv, rec)
    except BootstrapExit as e:
        stream = sys.stdout if e.code == 0 else sys.stderr
        print(e.message, file=stream, flush=True)
        code = e.code
    except KeyboardInterrupt:
        code = 130
    except Exception:
        import traceback
        traceback.print_exc()
        print("Build completed unsuccessfully", file=sys.stderr)
        code = 1
    finally:
        rec["exit"] = code
        try:
            append_record(rec)
        except OSError as e:
            print(f"warning: could not append to the mini-tree record: {e}", file=sys.stderr)
    return code
