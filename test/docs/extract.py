#!/usr/bin/env python3
"""Extract the ```sql blocks of a Markdown file for test/docs/run_docs.sh.

    extract.py FILE OUTDIR

Writes OUTDIR/NNN.sql (the block's text, as written) for each ```sql fence of
FILE, in order, and prints one line per block on stdout:

    NNN <TAB> LINE <TAB> KIND <TAB> ARG

LINE is the line of the opening fence; KIND is `run`, `expect-error` (ARG: the
SQLSTATE the block must raise) or `skip` (ARG: the reason).  The kind comes
from an HTML comment on the last non-blank line before the fence:

    <!-- docs-test: expect-error 42501 -->
    <!-- docs-test: skip needs a SASL broker -->

Other comments (such as <!-- grants-script: begin -->) are ignored.  A
docs-test comment that is not followed by a ```sql fence, an unknown kind, a
malformed SQLSTATE, a skip without a reason or an unclosed fence is an error
(exit 2), so that a typo cannot silently turn a test off.
"""
import os
import re
import sys

ANNOTATION = re.compile(r'^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$')
FENCE_OPEN = re.compile(r'^```\s*(\w[\w+-]*)?\s*$')
SQLSTATE = re.compile(r'^[0-9A-Z]{5}$')


def fail(path, line, msg):
    print(f'{path}:{line}: {msg}', file=sys.stderr)
    sys.exit(2)


def parse_annotation(path, lineno, text):
    words = text.split(None, 1)
    if not words:
        fail(path, lineno, 'empty docs-test annotation')
    kind = words[0]
    arg = words[1].strip() if len(words) > 1 else ''
    if kind == 'expect-error':
        if not SQLSTATE.match(arg):
            fail(path, lineno, f'expect-error needs one SQLSTATE (5 characters), got {arg!r}')
    elif kind == 'skip':
        if not arg:
            fail(path, lineno, 'skip needs a reason')
    else:
        fail(path, lineno, f'unknown docs-test annotation {kind!r} (expect-error SQLSTATE | skip REASON)')
    return kind, arg


def blocks(path):
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    out = []
    pending = None          # (lineno, kind, arg) of an annotation waiting for its fence
    i = 0
    while i < len(lines):
        line = lines[i]
        m = ANNOTATION.match(line)
        if m:
            if pending:
                fail(path, pending[0], 'docs-test annotation not followed by a ```sql block')
            pending = (i + 1,) + parse_annotation(path, i + 1, m.group(1))
            i += 1
            continue
        fm = FENCE_OPEN.match(line)
        if fm:
            lang = (fm.group(1) or '').lower()
            start = i + 1
            j = i + 1
            while j < len(lines) and not lines[j].startswith('```'):
                j += 1
            if j >= len(lines):
                fail(path, start, 'unclosed ``` fence')
            if lang == 'sql':
                kind, arg = (pending[1], pending[2]) if pending else ('run', '')
                out.append((start, kind, arg, '\n'.join(lines[i + 1:j]) + '\n'))
                pending = None
            elif pending:
                fail(path, pending[0], f'docs-test annotation followed by a ```{lang} block, not ```sql')
            i = j + 1
            continue
        if pending and line.strip() and not line.lstrip().startswith('<!--'):
            fail(path, pending[0], 'docs-test annotation not followed by a ```sql block')
        i += 1
    if pending:
        fail(path, pending[0], 'docs-test annotation not followed by a ```sql block')
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    path, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    for n, (line, kind, arg, sql) in enumerate(blocks(path), 1):
        with open(os.path.join(outdir, f'{n:03d}.sql'), 'w', encoding='utf-8') as f:
            f.write(sql)
        print(f'{n:03d}\t{line}\t{kind}\t{arg}')


if __name__ == '__main__':
    main()
