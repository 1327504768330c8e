#!/usr/bin/env python3
"""Checks that the I/O loop's modules form layers (daemon/state.h).

Reads the #include "x.h" lines of daemon/*.c and daemon/*.h; a module is a
file pair (conn.c and conn.h are "conn"), and it depends on every daemon
header it includes. Fails when a loop module includes the header of one in
a layer above its own, or when a cycle of includes, through any modules,
joins two loop modules. With -v, prints the graph among the loop modules.
"""
import glob
import os
import re
import sys

# Top to bottom; modules of one layer do not include each other.
LAYERS = [["server"], ["loop"], ["dispatch"], ["snapshot"], ["cursor", "health"],
          ["conn"], ["state"], ["route"]]
LAYER = {m: i for i, layer in enumerate(LAYERS) for m in layer}


def graph(root):
    deps = {}
    files = glob.glob(os.path.join(root, "daemon", "*.[ch]"))
    for f in files:
        deps.setdefault(os.path.basename(f)[:-2], {})
    for f in sorted(files):
        mod = os.path.basename(f)[:-2]
        with open(f, encoding="utf-8") as src:
            for line in src:
                m = re.match(r'\s*#\s*include\s+"(\w+)\.h"', line)
                if m and m.group(1) in deps and m.group(1) != mod:
                    deps[mod].setdefault(m.group(1), os.path.relpath(f, root))
    return deps


def cycles(deps):
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in deps[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(sorted(scc))

    sys.setrecursionlimit(10000)
    for v in sorted(deps):
        if v not in index:
            visit(v)
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    deps = graph(root)
    errors = []
    for m in LAYER:
        if m not in deps:
            errors.append(f"layers.py: no module daemon/{m}.[ch]")
    for m in sorted(LAYER, key=LAYER.get):
        for d, where in sorted(deps.get(m, {}).items()):
            if d in LAYER and LAYER[d] <= LAYER[m]:
                errors.append(f"{where} includes {d}.h: {d} is not in a "
                              f"layer below {m}'s (daemon/state.h)")
    for scc in cycles(deps):
        joined = [m for m in scc if m in LAYER]
        if len(joined) > 1:
            errors.append("a cycle of includes joins the loop modules "
                          f"{', '.join(joined)}: {' '.join(scc)}")
    if "-v" in sys.argv[1:]:
        for layer in LAYERS:
            for m in layer:
                below = [d for d in sorted(deps.get(m, {})) if d in LAYER]
                print(f"{m:9} -> {' '.join(below) or '(none)'}")
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print("layers: " + " > ".join(", ".join(l) for l in LAYERS) +
          ": no #include goes up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
