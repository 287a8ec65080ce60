#!/usr/bin/env python3
"""Every SQL text that src/ hands to SPI qualifies its functions and operators.

The extension runs its own SQL as other roles (the extension's owner, a
sink's or pipeline's owner, the bootstrap superuser in the lookup workers):
a function or operator found through search_path could be one a caller
planted.  search_path is pinned where such SQL runs, and the text qualifies
every function (pg_catalog.now(), a schema from pg::ExtensionSchemaSql())
and operator (OPERATOR(pg_catalog.=)) besides.

This check reads every C++ file of src/ that calls SPI, takes each string
literal that looks like SQL (adjacent literals joined, as the compiler joins
them), and reports
  * a call of an unqualified name:   now(   to_regclass(
  * an operator outside OPERATOR():  =  <>  ->>  +  ||  ...
SQL keywords that take parentheses (IN, VALUES, EXISTS, COALESCE, ...) are
not calls; "=" in an UPDATE's SET list is an assignment.  Text made at run
time from pieces that are not literals is out of its reach: keep such
pieces qualified by hand.

Prints one ok/not ok line per SQL text and "N passed, N failed".
  python3 test/lint/spi_sql.py [SRC_DIR]
"""
import os
import re
import sys

SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|LOCK|SET)\b", re.I)
SQL_INSIDE = re.compile(r"\b(FROM|WHERE|RETURNING|ON CONFLICT|VALUES)\b", re.I)
# Words that may stand before "(" without being a function call.
NOT_CALLS = {
    "select", "from", "where", "in", "values", "exists", "case", "coalesce", "nullif", "greatest", "least",
    "cast", "on", "and", "or", "not", "any", "all", "some", "array", "row", "as", "using", "conflict", "into",
    "update", "join", "lateral", "over", "filter", "with", "distinct", "operator", "by", "set", "returning",
    "when", "then", "else", "count", "is", "limit", "offset", "table", "only", "group", "order", "having",
}
# count(*) is an aggregate found by name too, but resolution of count(*) is
# not by argument type; it is listed above because pg_catalog.count(*) is
# how it would be qualified if needed.  It is kept qualified where used.
NOT_CALLS.discard("count")
OPERATOR_CHARS = set("+-*/<>=~!@#%^&|`?")


def literals(text):
    """(line, joined literal) for each run of adjacent C string literals."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c == "'":
            # a char literal: skip it
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == '"':
            line = text.count("\n", 0, i) + 1
            parts = []
            while i < n and text[i] == '"':
                j = i + 1
                buf = []
                while j < n and text[j] != '"':
                    if text[j] == "\\" and j + 1 < n:
                        nxt = text[j + 1]
                        buf.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'"}.get(nxt, nxt))
                        j += 2
                    else:
                        buf.append(text[j])
                        j += 1
                parts.append("".join(buf))
                i = j + 1
                # whitespace (and comments) between adjacent literals
                k = i
                while k < n and text[k] in " \t\r\n":
                    k += 1
                if k < n and text[k] == '"':
                    i = k
                else:
                    break
            out.append((line, "".join(parts)))
            continue
        i += 1
    return out


TOKEN = re.compile(
    r"""(?P<ws>\s+)
      |(?P<str>'(?:[^']|'')*')
      |(?P<qid>"(?:[^"]|"")*")
      |(?P<param>\$\d+)
      |(?P<fmt>%[-0-9.]*[sdiuz]+(?:\w)?)
      |(?P<cast>::)
      |(?P<num>\d+(?:\.\d+)?)
      |(?P<id>[A-Za-z_][A-Za-z_0-9$]*)
      |(?P<op>[+\-*/<>=~!@#%^&|`?]+)
      |(?P<punct>[(),.;\[\]:])
    """,
    re.X,
)


def tokens(sql):
    pos = 0
    while pos < len(sql):
        m = TOKEN.match(sql, pos)
        if not m:
            yield ("other", sql[pos])
            pos += 1
            continue
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        yield (kind, m.group(kind))


def problems(sql):
    found = []
    toks = list(tokens(sql))
    in_set = False  # inside an UPDATE's SET list (or ON CONFLICT DO UPDATE SET)
    depth = 0
    set_depth = 0
    for i, (kind, val) in enumerate(toks):
        prev = toks[i - 1] if i > 0 else ("", "")
        prev2 = toks[i - 2] if i > 1 else ("", "")
        nxt = toks[i + 1] if i + 1 < len(toks) else ("", "")
        low = val.lower()
        if kind == "punct" and val == "(":
            depth += 1
        elif kind == "punct" and val == ")":
            depth -= 1
        if kind == "id":
            if low == "set" and prev[1].lower() != "is":
                in_set, set_depth = True, depth
            elif low in ("where", "from", "returning") and depth <= set_depth:
                in_set = False
            if nxt == ("punct", "(") and low not in NOT_CALLS:
                qualified = prev == ("punct", ".")
                after_alias = prev[0] == "id" and prev[1].lower() in ("as", "into", "table", "update", "join")
                if not qualified and not after_alias:
                    found.append("unqualified call %s(" % val)
        if kind == "op":
            # OPERATOR(pg_catalog.=): the op sits right after "pg_catalog ."
            inside_operator = prev == ("punct", ".") and prev2[1].lower() == "pg_catalog"
            if inside_operator:
                continue
            if val == "=" and in_set and depth == set_depth:
                continue  # an assignment
            if val == "*" and (prev[1] in ("(", ",") or prev[1].lower() in ("select", "distinct")) or prev == ("punct", "."):
                continue  # count(*), SELECT *, t.*
            found.append("unqualified operator %s" % val)
    return found


def looks_like_sql(s):
    return bool(SQL_START.match(s)) or (len(s) > 12 and bool(SQL_INSIDE.search(s)) and " " in s.strip())


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "src")
    passed = failed = 0
    for root, _, files in sorted(os.walk(src)):
        for f in sorted(files):
            if not f.endswith(".cpp"):
                continue
            path = os.path.join(root, f)
            text = open(path, encoding="utf-8").read()
            if "SPI_" not in text:
                continue
            rel = os.path.relpath(path, os.path.join(src, ".."))
            for line, lit in literals(text):
                if not looks_like_sql(lit):
                    continue
                bad = problems(lit)
                short = " ".join(lit.split())[:90]
                if bad:
                    failed += 1
                    print("not ok - %s:%d %s" % (rel, line, short))
                    for b in sorted(set(bad)):
                        print("#   %s" % b)
                else:
                    passed += 1
                    print("ok - %s:%d %s" % (rel, line, short))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
