#!/usr/bin/env python3
"""Checks that imports run one way: no file-level import circles in any crate, and in the crates
with declared layers (docs/architecture.md), no module importing from its own layer or above.

A module file (lib.rs, mod.rs) declaring and re-exporting its own children is structure, not an
import. Reads `use` trees and inline `crate::…` / `super::…` paths as text and resolves each to the file
that defines its longest existing prefix. Test code (files named tests.rs or *_tests.rs,
and `#[cfg(test)] mod … { … }` blocks) is left out: tests may reach anywhere.

Usage: scripts/check_layers.py [--verbose]; exit status 1 when something runs upward.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Bottom to top. A module may import only from the layers below its own.
LAYERS = {
    "engine": [
        ["query_cache"],
        ["config", "cluster", "runtime"],
        ["auth", "pool", "router", "report", "metrics"],
        ["backend"],
        ["failover", "shard"],
        ["recovery", "watchdog"],
        ["session", "pcp", "health"],
        ["server"],
    ],
}

CRATES = ["protocol", "runtime", "engine", "client", "ddl", "backup", "cli", "testkit", "bench", "perf"]

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments_and_strings(text):
    """Blanks out comments, string and char literals (keeping line structure)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:i + 12]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_test_blocks(text):
    """Removes `#[cfg(test)]` items that are inline modules or functions."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([a-z]+\))?\s+)?(mod\s+" + IDENT + r"|fn\s+" + IDENT + r"[^{;]*)\s*\{", text)
        if not m:
            return text
        depth, i = 1, m.end()
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        text = text[:m.start()] + "\n" * text.count("\n", m.start(), i) + text[i:]


def parse_use_tree(tree):
    """`a::{b, c::{d, e}}` → [[a, b], [a, c, d], [a, c, e]] (aliases and globs dropped)."""
    tree = re.sub(r"\s+", "", tree)
    paths = []

    def walk(prefix, s):
        # Split top-level commas.
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            p = re.sub(r"as" + IDENT + "$", "", p) if False else p
            if "{" in p:
                head, rest = p.split("{", 1)
                segs = [x for x in head.split("::") if x]
                walk(prefix + segs, rest[:-1] if rest.endswith("}") else rest)
            else:
                p = re.split(r"(?<=[A-Za-z0-9_])as(?=[A-Za-z_])", p)[0] if "as" in p else p
                segs = [x for x in p.split("::") if x and x != "*"]
                paths.append(prefix + segs)

    walk([], tree)
    return paths


class Crate:
    def __init__(self, name):
        self.name = name
        self.src = os.path.join(ROOT, name, "src")
        self.files = {}  # module path tuple -> file path
        for dirpath, _, names in os.walk(self.src):
            for f in names:
                if not f.endswith(".rs"):
                    continue
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, self.src)[:-3].split(os.sep)
                if rel[-1] in ("mod", "lib", "main"):
                    rel = rel[:-1]
                if rel and rel[0] == "bin":
                    continue
                self.files[tuple(rel)] = full

    @staticmethod
    def is_test_file(path):
        base = os.path.basename(path)
        return base == "tests.rs" or base.endswith("_tests.rs") or f"{os.sep}tests{os.sep}" in path

    def resolve(self, segs):
        """The file defining the longest existing prefix of an absolute module path."""
        for k in range(len(segs), -1, -1):
            f = self.files.get(tuple(segs[:k]))
            if f:
                return f
        return None

    def below(self, modpath, f):
        """True when file `f` is inside module `modpath` (a module's own children: declaring
        and re-exporting them is structure, not an import)."""
        for m, g in self.files.items():
            if g == f:
                return len(m) > len(modpath) and m[: len(modpath)] == tuple(modpath)
        return False

    def imports(self, modpath, path):
        text = drop_test_blocks(strip_comments_and_strings(open(path).read()))
        found = []
        children = set(re.findall(r"\bmod\s+(" + IDENT + r")\s*;", text))
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            for p in parse_use_tree(m.group(1)):
                found.append(p)
        for m in re.finditer(r"(?<![A-Za-z0-9_:])((?:crate|super|self)(?:::" + IDENT + ")+)", text):
            found.append(m.group(1).split("::"))
        is_mod_file = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
        targets = set()
        for p in found:
            if not p:
                continue
            if p[0] == "crate":
                absolute = p[1:]
            elif p[0] in ("super", "self"):
                base = list(modpath) if is_mod_file else list(modpath[:-1])
                here = list(modpath)
                segs = list(p)
                cur = here
                while segs and segs[0] in ("super", "self"):
                    if segs[0] == "super":
                        cur = base if cur == here else cur[:-1]
                    segs = segs[1:]
                absolute = cur + segs
            elif p[0] in children:
                absolute = list(modpath) + p
            else:
                continue
            f = self.resolve(absolute)
            if f and f != path and not (is_mod_file and self.below(modpath, f)):
                targets.add(f)
        return targets

    def graph(self):
        g = {}
        for modpath, path in self.files.items():
            if self.is_test_file(path):
                continue
            g[path] = {t for t in self.imports(modpath, path) if not self.is_test_file(t)}
        return g


def circles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    verbose = "--verbose" in sys.argv
    problems = []
    for name in CRATES:
        if not os.path.isdir(os.path.join(ROOT, name, "src")):
            continue
        crate = Crate(name)
        for path in crate.files.values():
            if os.path.isdir(path[:-3]):
                problems.append(f"{name}: {os.path.relpath(path, ROOT)} sits beside its folder: make it {os.path.relpath(path[:-3], ROOT)}/mod.rs (one module style)")
        graph = crate.graph()
        rel = lambda f: os.path.relpath(f, ROOT)
        for comp in circles(graph):
            lines = [f"{name}: import circle of {len(comp)} files:"]
            for f in comp:
                for t in sorted(graph[f]):
                    if t in comp:
                        lines.append(f"    {rel(f)} -> {rel(t)}")
            problems.append("\n".join(lines))
        layers = LAYERS.get(name)
        if not layers:
            continue
        level = {m: i for i, names in enumerate(layers) for m in names}
        top = lambda f: os.path.relpath(f, crate.src).split(os.sep)[0].removesuffix(".rs")
        for f, targets in sorted(graph.items()):
            mf = top(f)
            if mf not in level:
                if mf not in ("lib", "main"):
                    problems.append(f"{name}: module `{mf}` ({rel(f)}) has no layer in scripts/check_layers.py")
                continue
            for t in sorted(targets):
                mt = top(t)
                if mt == mf or mt not in level:
                    continue
                if level[mt] >= level[mf]:
                    problems.append(
                        f"{name}: {rel(f)} imports {rel(t)}: `{mf}` (layer {level[mf]}) may only import from layers below it, `{mt}` is layer {level[mt]}"
                    )
        if verbose:
            print(f"{name}: {len(graph)} files, {sum(len(v) for v in graph.values())} imports")
    if problems:
        print("\n".join(problems))
        print(f"check_layers: {len(problems)} problem(s); the layers are in docs/architecture.md")
        return 1
    print("check_layers: imports run one way")
    return 0


if __name__ == "__main__":
    sys.exit(main())
