#!/usr/bin/env python3
"""Lists Swift functions and initialisers whose bodies are longer than a limit (default 80 lines).

    scripts/long-functions.py [--limit N] [PATH...]      (default PATH: Sources)

A body is found by brace matching from the `{` that opens a `func`/`init` declaration (string literals, including
multi-line and interpolated ones, and comments are skipped). A function whose declaration line, or the comment
line just above it, carries `long-function:` followed by a reason is listed as allowed, not as a violation.
Exit status: 0 none over the limit without a reason; 1 otherwise.
"""
import os
import re
import sys

DECL = re.compile(r'^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|package|open|static|class|'
                  r'final|override|mutating|nonmutating|convenience|required|nonisolated|@inlinable|@discardableResult)\s+)*'
                  r'(func\s+[^\s(<]+|init[?!]?|deinit)\b')


def strip_code(lines):
    """Each line with string literals and comments blanked, so braces in them do not count."""
    out, in_block, in_multi = [], 0, False
    for line in lines:
        res, i, n = [], 0, len(line)
        while i < n:
            c = line[i]
            if in_block:
                if line.startswith('*/', i): in_block -= 1; i += 2; continue
                if line.startswith('/*', i): in_block += 1; i += 2; continue
                i += 1; continue
            if in_multi:
                if line.startswith('"""', i): in_multi = False; i += 3; continue
                i += 1; continue
            if line.startswith('//', i): break
            if line.startswith('/*', i): in_block += 1; i += 2; continue
            if line.startswith('"""', i): in_multi = True; i += 3; continue
            if c == '"':
                i = skip_string(line, i + 1); continue
            res.append(c); i += 1
        out.append(''.join(res))
    return out


def skip_string(line, i):
    """Index after the closing quote of a one-line string starting before `i` (interpolations nest)."""
    n = len(line)
    while i < n:
        if line[i] == '\\' and i + 1 < n and line[i + 1] == '(':
            depth, i = 1, i + 2
            while i < n and depth:
                if line[i] == '"': i = skip_string(line, i + 1); continue
                depth += line[i] == '('; depth -= line[i] == ')'; i += 1
            continue
        if line[i] == '\\': i += 2; continue
        if line[i] == '"': return i + 1
        i += 1
    return n


def functions(path):
    with open(path, encoding='utf-8') as f:
        raw = f.read().split('\n')
    code = strip_code(raw)
    for idx, line in enumerate(code):
        m = DECL.match(line)
        if not m:
            continue
        # The body opens at the first `{` from the declaration on (a protocol requirement has none before the
        # next declaration or `}` line).
        # Braces inside the parameter list (default closures `= { _ in }`) are not the body.
        depth, parens, start, end = 0, 0, None, None
        for j in range(idx, len(code)):
            for ch in code[j]:
                if start is None and ch in '()':
                    parens += 1 if ch == '(' else -1
                elif start is None and parens > 0:
                    continue
                elif ch == '{':
                    if start is None: start = j
                    depth += 1
                elif ch == '}':
                    if start is None: break
                    depth -= 1
                    if depth == 0: end = j; break
            if end is not None or (start is None and j > idx and (DECL.match(code[j]) or code[j].strip() == '}')):
                break
        if start is None or end is None:
            continue
        reason = any('long-function:' in raw[k] for k in (idx - 1, idx) if k >= 0)
        yield idx + 1, end - idx + 1, m.group(1), reason


def main(argv):
    limit, paths = 80, []
    it = iter(argv)
    for a in it:
        if a == '--limit': limit = int(next(it))
        else: paths.append(a)
    paths = paths or ['Sources']
    bad = 0
    for root in paths:
        files = [root] if root.endswith('.swift') else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith('.swift'))
        for path in files:
            for line, length, name, reason in functions(path):
                if length > limit:
                    print(f"{path}:{line}: {name} is {length} lines{' (reason given)' if reason else ''}")
                    bad += not reason
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
