#!/usr/bin/env python3
"""The include graph between the rooms of src/ has no cycle, and the core
never reaches into the glue.

A room is a directory of src/ (kafka, format, pg, fdw, functions, cdc, sink,
cli); files directly in src/ (the module's entry point, shared guards) are
not a room and may include anything.  This check reads every #include "x/..."
of src/*/*.{cpp,hpp} and reports
  * an arrow from the pure core (kafka, format) or the command-line tool
    (cli) to a glue room (pg, fdw, functions, cdc, sink), or any PostgreSQL
    header (postgres.h, fmgr.h, utils/..., ...) included by the core or cli;
  * every cycle between rooms (A includes B and B, directly or through
    others, includes A).

Prints one ok/not ok line per check and "N passed, N failed".
  python3 test/lint/rooms.py [SRC_DIR]
"""
import os
import re
import sys

CORE = {"kafka", "format", "cli"}
GLUE = {"pg", "fdw", "functions", "cdc", "sink"}
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^">]+)[">]', re.M)
# PostgreSQL's own header directories and top-level headers.
PG_TOP = {"postgres.h", "postgres_ext.h", "fmgr.h", "funcapi.h", "miscadmin.h", "pgstat.h", "c.h", "pg_config.h"}
PG_DIRS = {"access", "catalog", "commands", "common", "executor", "foreign", "lib", "libpq", "mb", "nodes",
           "optimizer", "parser", "port", "postmaster", "replication", "rewrite", "storage", "tcop", "utils",
           "jit", "partitioning", "statistics", "tsearch", "regex", "snowball", "bootstrap", "backup", "archive"}


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    rooms = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    edges = {r: {} for r in rooms}  # room -> {target room: first file that includes it}
    bad = []
    for room in rooms:
        for name in sorted(os.listdir(os.path.join(src, room))):
            if not name.endswith((".cpp", ".hpp", ".h")):
                continue
            path = os.path.join(src, room, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                top = inc.split("/")[0]
                if room in CORE and (inc in PG_TOP or ("/" in inc and top in PG_DIRS and top not in rooms)):
                    bad.append(f"{path}: the core includes the PostgreSQL header {inc}")
                if "/" in inc and top in rooms and top != room:
                    edges[room].setdefault(top, path)
                    if room in CORE and top in GLUE:
                        bad.append(f"{path}: {room} (core) includes {inc} ({top} is glue)")

    passed = failed = 0
    for msg in bad:
        print(f"not ok - {msg}")
        failed += 1
    if not bad:
        print("ok - no arrow from the core to the glue or to PostgreSQL's headers")
        passed += 1

    # cycles: strongly connected components of more than one room (Tarjan)
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
            comps.append(sorted(comp))

    for r in rooms:
        if r not in index:
            visit(r)
    cycles = [c for c in comps if len(c) > 1]
    for c in cycles:
        arrows = [f"{a} -> {b} ({edges[a][b]})" for a in c for b in c if b in edges[a]]
        print(f"not ok - a cycle between the rooms {', '.join(c)}: " + "; ".join(arrows))
        failed += 1
    if not cycles:
        print("ok - no cycle between the rooms " + ", ".join(rooms))
        passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
