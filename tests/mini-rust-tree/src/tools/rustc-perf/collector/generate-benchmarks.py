#!/usr/bin/env python3
"""Regenerates the compile-benchmark seeds (`compile-benchmarks/<name>/src/lib.mini`).

The collector compiles each seed `copies` times over (wrapped in modules, see perf-config.json),
so the checked-in files stay small. Each benchmark stresses a different part of the mini
compiler, like its namesake in rustc-perf stresses a part of rustc. Deterministic: running this
again produces identical files.
"""

import json
import os
import random
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "compile-benchmarks")

INT, BOOL = "int", "bool"


def ty_str(t):
    if isinstance(t, tuple):
        inner = ", ".join(ty_str(x) for x in t)
        return f"({inner},)" if len(t) == 1 else f"({inner})"
    return t


class Gen:
    def __init__(self, name):
        self.rng = random.Random(zlib.crc32(name.encode()))
        self.out = []
        self.fns = []  # (name, [param types], ret type, cost)
        self.counter = 0

    def fresh(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, line=""):
        self.out.append(line)

    # -- expressions ---------------------------------------------------------------------------
    def leaves(self, env, want):
        """Expressions of type `want` (INT/BOOL) reachable from variables (incl. tuple fields)."""
        res = []

        def walk(expr, t):
            if t == want:
                res.append(expr)
            elif isinstance(t, tuple):
                for i, sub in enumerate(t):
                    walk(f"{expr}.{i}", sub)

        for name, t in env.items():
            walk(name, t)
        return res

    def int_expr(self, env, depth, calls=True):
        r = self.rng
        if depth <= 0 or r.random() < 0.2:
            leaves = self.leaves(env, INT)
            if leaves and r.random() < 0.75:
                return r.choice(leaves)
            return str(r.randint(0, 999))
        if calls and self.fns and r.random() < 0.12:
            name, params, ret, _ = r.choice(self.fns)
            args = ", ".join(self.expr_of(p, env, depth - 2, calls=False) for p in params)
            call = f"{name}({args})"
            if ret == INT:
                return call
            path = self.int_path(ret)
            if path is not None:
                return call + path
        op = r.choice(["+", "-", "*", "&", "|", "^", "+", "-", "/", "%", "<<", ">>"])
        a = self.int_expr(env, depth - 1, calls)
        b = self.int_expr(env, depth - 1, calls)
        if op in ("/", "%"):
            return f"({a} {op} ({b} | 1))"
        if op in ("<<", ">>"):
            return f"({a} {op} ({b} & 7))"
        return f"({a} {op} {b})"

    def int_path(self, t):
        if t == INT:
            return ""
        if isinstance(t, tuple):
            for i, sub in enumerate(t):
                p = self.int_path(sub)
                if p is not None:
                    return f".{i}{p}"
        return None

    def bool_expr(self, env, depth, calls=True):
        r = self.rng
        if depth <= 0 or r.random() < 0.15:
            leaves = self.leaves(env, BOOL)
            if leaves and r.random() < 0.6:
                return r.choice(leaves)
            op = r.choice(["<", "<=", ">", ">=", "==", "!="])
            return f"({self.int_expr(env, 1, calls)} {op} {self.int_expr(env, 1, calls)})"
        k = r.random()
        if k < 0.5:
            op = r.choice(["<", "<=", ">", ">=", "==", "!="])
            return f"({self.int_expr(env, depth - 1, calls)} {op} {self.int_expr(env, depth - 1, calls)})"
        if k < 0.9:
            op = r.choice(["&&", "||"])
            return f"({self.bool_expr(env, depth - 1, calls)} {op} {self.bool_expr(env, depth - 1, calls)})"
        return f"!{self.bool_expr(env, depth - 1, calls)}"

    def expr_of(self, t, env, depth, calls=True):
        if t == INT:
            return self.int_expr(env, depth, calls)
        if t == BOOL:
            return self.bool_expr(env, depth, calls)
        parts = [self.expr_of(sub, env, depth - 1, calls) for sub in t]
        return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"

    def rand_ty(self, depth):
        r = self.rng.random()
        if depth <= 0 or r < 0.45:
            return INT
        if r < 0.6:
            return BOOL
        return tuple(self.rand_ty(depth - 1) for _ in range(self.rng.randint(2, 4)))

    # -- statements ----------------------------------------------------------------------------
    def block(self, env, ind, n_stmts, depth, loop_bound, calls=True, allow_loops=True):
        """Emits statements; mutates `env` with new locals (scoped by the caller)."""
        r = self.rng
        pad = "    " * ind
        for _ in range(n_stmts):
            k = r.random()
            ints = [n for n, t in env.items() if t == INT and not n.startswith("i_")]
            if k < 0.35 or not ints:
                v = self.fresh("v")
                t = INT if r.random() < 0.8 else self.rand_ty(2)
                self.emit(f"{pad}let {v} = {self.expr_of(t, env, depth, calls)};")
                env[v] = t
            elif k < 0.55:
                self.emit(f"{pad}{r.choice(ints)} = {self.int_expr(env, depth, calls)};")
            elif k < 0.72 and ind < 4:
                self.emit(f"{pad}if {self.bool_expr(env, 2, calls)} {{")
                self.block(dict(env), ind + 1, r.randint(1, 3), depth - 1, loop_bound, calls, allow_loops)
                self.emit(f"{pad}}} else {{")
                self.block(dict(env), ind + 1, r.randint(1, 2), depth - 1, loop_bound, calls, allow_loops)
                self.emit(f"{pad}}}")
            elif k < 0.85 and allow_loops and ind < 3:
                i = self.fresh("i_")
                self.emit(f"{pad}let {i} = 0;")
                self.emit(f"{pad}while {i} < {r.randint(2, loop_bound)} {{")
                inner = dict(env)
                inner[i] = INT
                self.block(inner, ind + 1, r.randint(1, 3), depth - 1, loop_bound, calls, allow_loops=ind < 1)
                self.emit(f"{pad}    {i} = {i} + 1;")
                self.emit(f"{pad}}}")
            else:
                target = r.choice(ints)
                self.emit(f"{pad}{target} = {self.match_expr(env, ind, r.randint(3, 7), depth, calls)};")

    def match_expr(self, env, ind, arms, depth, calls=True):
        r = self.rng
        pad = "    " * ind
        lines = [f"match {self.int_expr(env, 1, calls)} {{"]
        lo = r.randint(-20, 20)
        for _ in range(arms):
            kind = r.random()
            if kind < 0.4:
                pat = str(lo)
                lo += r.randint(1, 3)
            elif kind < 0.75:
                hi = lo + r.randint(0, 9)
                pat = f"{lo}..={hi}"
                lo = hi + r.randint(1, 4)
            else:
                pat = " | ".join(str(lo + j * 2) for j in range(r.randint(2, 3)))
                lo += 8
            lines.append(f"{pad}    {pat} => {self.int_expr(env, depth - 1, calls)},")
        lines.append(f"{pad}    _ => {self.int_expr(env, depth - 1, calls)},")
        lines.append(f"{pad}}}")
        return "\n".join(lines)

    def function(self, name, params, ret, n_stmts, depth, loop_bound, doc=None, calls=True, allow_loops=True,
                 register=True):
        env = {p: t for p, t in params}
        if doc:
            self.emit(f"/// {doc}")
        sig = ", ".join(f"{p}: {ty_str(t)}" for p, t in params)
        self.emit(f"fn {name}({sig}) -> {ty_str(ret)} {{")
        self.block(env, 1, n_stmts, depth, loop_bound, calls, allow_loops)
        self.emit(f"    {self.expr_of(ret, env, depth, calls)}")
        self.emit("}")
        self.emit()
        if register:
            self.fns.append((name, [t for _, t in params], ret, 1))

    def text(self):
        return "\n".join(self.out) + "\n"


# -- the benchmarks ----------------------------------------------------------------------------

def general(g, n_fns, stmts=(4, 10), depth=3, loop_bound=8, mods=0, consts=4):
    """Mixed code: functions, modules, constants."""
    def items(count):
        for _ in range(count):
            params = [(g.fresh("p"), INT if g.rng.random() < 0.75 else g.rand_ty(1)) for _ in range(g.rng.randint(1, 3))]
            g.function(g.fresh("f"), params, INT, g.rng.randint(*stmts), depth, loop_bound,
                       doc="Generated function. Computes `something` **useful**.")
    items(n_fns // (mods + 1))
    for m in range(mods):
        g.emit(f"mod m{m} {{")
        saved = list(g.fns)
        items(n_fns // (mods + 1))
        g.fns = saved
        g.emit("}")
    for _ in range(consts):
        g.emit(f"const C{g.fresh('')}: int = {g.int_expr({}, 3, calls=False)};")


def bench_externs(g):
    g.emit("extern {")
    names = []
    for i in range(40):
        n = f"ext_fn_{i}"
        names.append(n)
        g.emit(f"    /// Foreign function number {i}.")
        g.emit(f"    fn {n}(a: int, b: int) -> int;")
    g.emit("}")
    g.emit()
    for i in range(25):
        g.emit(f"fn call_externs_{i}(x: int) -> int {{")
        g.emit("    let acc = x;")
        for _ in range(6):
            a, b = g.rng.sample(names, 2)
            g.emit(f"    acc = {a}(acc, {g.rng.randint(1, 99)}) + {b}(x, acc);")
        g.emit("    acc")
        g.emit("}")
    general(g, 3)


def bench_ctfe(g):
    g.emit("/// Sieve-like counting loop, evaluated at compile time.")
    g.emit("fn count_primes(limit: int) -> int {")
    g.emit("    let count = 0;\n    let n = 2;\n    while n < limit {\n        let d = 2;\n        let prime = true;")
    g.emit("        while d * d <= n && prime {\n            if n % d == 0 { prime = false; }\n            d = d + 1;\n        }")
    g.emit("        if prime { count = count + 1; }\n        n = n + 1;\n    }\n    count\n}\n")
    g.emit("fn collatz_steps(start: int, rounds: int) -> int {")
    g.emit("    let total = 0;\n    let k = 1;\n    while k <= rounds {\n        let x = start + k;")
    g.emit("        while x != 1 {\n            x = match x % 2 { 0 => x / 2, _ => 3 * x + 1 };\n            total = total + 1;\n        }")
    g.emit("        k = k + 1;\n    }\n    total\n}\n")
    g.emit("fn fib(n: int) -> int { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }\n")
    for i in range(10):
        g.emit(f"const PRIMES_{i}: int = count_primes({300 + 40 * i});")
        g.emit(f"const COLLATZ_{i}: int = collatz_steps({7 + i * 3}, {25 + i});")
        g.emit(f"const FIB_{i}: int = fib({12 + i % 4});")
    g.emit("fn use_consts() -> int {")
    g.emit("    " + " + ".join([f"PRIMES_{i} + COLLATZ_{i} + FIB_{i}" for i in range(10)]))
    g.emit("}")
    general(g, 2)


def bench_token_stream(g):
    for i in range(8):
        terms = []
        for j in range(60):
            terms.append(f"(a{j % 4} * {g.rng.randint(1, 9)} + {g.rng.randint(0, 99)})")
        g.emit(f"fn tokens_{i}(a0: int, a1: int, a2: int, a3: int) -> int {{")
        g.emit("    " + " +\n        ".join(" ^ ".join(terms[k:k + 4]) for k in range(0, len(terms), 4)))
        g.emit("}")
        g.emit()


def bench_match(g):
    for i in range(4):
        g.emit(f"fn classify_{i}(x: int) -> int {{")
        g.emit("    match x {")
        lo = -500
        for a in range(70):
            w = g.rng.randint(0, 6)
            if g.rng.random() < 0.3:
                g.emit(f"        {lo} | {lo + w + 1} => {a * 3 + i},")
                lo += w + 2
            else:
                g.emit(f"        {lo}..={lo + w} => x * {a % 7 + 1} + {a},")
                lo += w + 1
        g.emit("        _ => 0,")
        g.emit("    }")
        g.emit("}")
        g.emit()
    g.emit("fn dispatch(x: int, y: int) -> int {")
    g.emit("    " + " + ".join(f"classify_{i}(x + {i}) * (y & {i + 1})" for i in range(4)))
    g.emit("}")
    general(g, 1)


def bench_tuple(g):
    shapes = [(INT, (INT, BOOL), INT), ((INT, INT), (BOOL, (INT, INT)), INT, BOOL),
              (INT, INT, INT, INT, INT, INT), ((INT, (INT, (INT, INT))), BOOL)]
    for i in range(9):
        t_in = shapes[i % len(shapes)]
        t_out = shapes[(i + 1) % len(shapes)]
        g.function(f"reshape_{i}", [("t", t_in), ("k", INT)], t_out, g.rng.randint(3, 7), 3, 4,
                   doc="Tuple reshaping.", calls=False)
    general(g, 2)


def bench_diesel(g):
    depth_names = ["schema", "query_builder", "expression", "backend"]
    g.emit("fn base(x: int) -> int { x * 2 + 1 }")
    for a in range(4):
        g.emit(f"mod {depth_names[a]} {{")
        for b in range(3):
            g.emit(f"    mod sub{b} {{")
            for c in range(5):
                target = g.rng.choice(["super::super::base", f"super::helper{b}", "base", f"self::leaf{max(c - 1, 0)}"])
                if c == 0 and target.startswith("self::"):
                    target = "base"
                g.emit(f"        /// Leaf {c} of {depth_names[a]}::sub{b}.")
                g.emit(f"        fn leaf{c}(x: int) -> int {{ let y = {target}(x + {c}); if y > {c * 10} {{ y - {c} }} else {{ y + {b} }} }}")
            g.emit("    }")
            g.emit(f"    fn helper{b}(x: int) -> int {{ sub{b}::leaf3(x) + super::base(x) }}")
        g.emit("}")
    g.emit("fn diesel_main(x: int) -> int {")
    g.emit("    " + " + ".join(f"{depth_names[a]}::sub{b}::leaf{c}(x)" for a in range(4) for b in range(3) for c in (0, 2, 4)))
    g.emit("}")
    general(g, 2)


def bench_bitmaps(g):
    for i in range(10):
        g.emit(f"fn bitmap_op_{i}(words: int, mask: int) -> int {{")
        g.emit("    let acc = 0;\n    let bit = 0;")
        g.emit(f"    while bit < {32 + i} {{")
        g.emit(f"        let w = (words >> (bit & 63)) & 1;")
        g.emit(f"        if w == 1 && (mask & (1 << (bit & 15))) != 0 {{ acc = acc | (1 << (bit & 31)); }}")
        g.emit(f"        else {{ acc = acc ^ (w << ((bit + {i}) & 31)); }}")
        g.emit("        bit = bit + 1;\n    }")
        g.emit(f"    acc & {g.rng.randint(1, 1 << 20)}")
        g.emit("}")
        g.emit(f"const BITMAP_{i}: int = bitmap_op_{i}({g.rng.randint(1, 1 << 30)}, {g.rng.randint(1, 1 << 16)});")
        g.emit()
    general(g, 3)


def bench_serde(g, n, tuple_heavy):
    for i in range(n):
        t = (INT, BOOL, INT) if tuple_heavy else INT
        g.function(f"serialize_{i}", [("value", t), ("len", INT)], (INT, INT) if tuple_heavy else INT,
                   g.rng.randint(2, 6), 3, 5, doc="Serializer step.")
    general(g, 4, mods=1)


def bench_llvm_heavy(g, n_fns, stmts, depth, loop_bound, mods):
    general(g, n_fns, stmts=stmts, depth=depth, loop_bound=loop_bound, mods=mods, consts=6)


def bench_regex_automata(g):
    for i in range(3):
        g.emit(f"fn run_dfa_{i}(input: int, len: int) -> int {{")
        g.emit("    let state = 0;\n    let pos = 0;\n    let matches = 0;")
        g.emit("    while pos < len {")
        g.emit("        let byte = (input >> (pos & 63)) & 255;")
        g.emit("        state = match state {")
        for s in range(40):
            g.emit(f"            {s} => if byte < {g.rng.randint(10, 250)} {{ {g.rng.randint(0, 39)} }} else {{ {g.rng.randint(0, 39)} }},")
        g.emit("            _ => 0,")
        g.emit("        };")
        g.emit(f"        if state == {g.rng.randint(0, 39)} {{ matches = matches + 1; }}")
        g.emit("        pos = pos + 1;\n    }\n    matches\n}\n")
    general(g, 2)


BENCHMARKS = {
    # (generator, copies): few copies, so that a whole pipeline trains in seconds
    # rustc PGO training set
    "externs": (bench_externs, 5),
    "ctfe-stress-5": (bench_ctfe, 1),
    "cargo-0.87.1": (lambda g: general(g, 10, mods=1), 5),
    "token-stream-stress": (bench_token_stream, 4),
    "match-stress": (bench_match, 3),
    "tuple-stress": (bench_tuple, 5),
    "diesel-2.2.10": (bench_diesel, 2),
    "bitmaps-3.2.1": (bench_bitmaps, 3),
    "serde-1.0.219-new-solver": (lambda g: bench_serde(g, 8, True), 4),
    # LLVM PGO training set
    "syn-2.0.101": (lambda g: bench_llvm_heavy(g, 6, (10, 18), 3, 6, 1), 5),
    "serde-1.0.219": (lambda g: bench_serde(g, 10, False), 6),
    "ripgrep-14.1.1": (lambda g: bench_llvm_heavy(g, 5, (14, 24), 4, 6, 0), 4),
    "regex-automata-0.4.8": (bench_regex_automata, 2),
    "clap_derive-4.5.32": (lambda g: bench_llvm_heavy(g, 10, (5, 9), 3, 4, 1), 6),
    "hyper-1.6.0": (lambda g: bench_llvm_heavy(g, 6, (10, 16), 4, 5, 1), 4),
}


def main():
    for name, (fn, copies) in sorted(BENCHMARKS.items()):
        g = Gen(name)
        g.emit(f"// Benchmark `{name}` of the mini rustc-perf (generated by generate-benchmarks.py).")
        g.emit()
        fn(g)
        d = os.path.join(OUT, name, "src")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "lib.mini"), "w") as fh:
            fh.write(g.text())
        with open(os.path.join(OUT, name, "perf-config.json"), "w") as fh:
            json.dump({"copies": copies, "category": "primary", "artifact": "library"}, fh, indent=2)
            fh.write("\n")
        print(f"{name}: {len(g.out)} lines x {copies} copies")


if __name__ == "__main__":
    main()
