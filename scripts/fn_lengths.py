#!/usr/bin/env python3
"""fn_lengths: the longest functions of a Rust source tree, by lines from `fn` to its closing brace.

    fn_lengths.py [--max N] [--top K] PATH...     (PATH: a .rs file or a folder searched for them)

Prints the K longest functions (default 10) as `LINES  FILE:LINE  NAME`, then `over N: M` and
exits 1 when any function is longer than N lines (default 80). Comments and string literals are
blanked before braces are counted, so a `{` in a message or a doc comment misleads nothing;
`#[cfg(test)] mod` blocks count like any other code (give only the files you mean to measure).
"""
import os
import re
import sys

FN_RE = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def blank(text):
    """The code with comments and string/char literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(text)

    def keep_lines(s):
        return "".join("\n" if ch == "\n" else " " for ch in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(keep_lines(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            j = n if end < 0 else end + 1 + len(hashes)
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(keep_lines(text[i:j + 1]))
            i = j + 1
        else:
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:i + 12]) if c == "'" else None
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
    return "".join(out)


def functions(path):
    """(lines, first line, name) of every function with a body in the file."""
    code = blank(open(path, encoding="utf-8").read())
    found = []
    for m in FN_RE.finditer(code):
        # the body opens at the first `{` after the signature; a `;` first means no body
        j = m.end()
        depth_paren = 0
        while j < len(code):
            ch = code[j]
            if ch in "([<":
                depth_paren += 1
            elif ch in ")]>":
                depth_paren -= 1
            elif ch == ";" and depth_paren <= 0:
                j = -1
                break
            elif ch == "{" and depth_paren <= 0:
                break
            j += 1
        if j < 0 or j >= len(code):
            continue
        depth, k = 0, j
        while k < len(code):
            if code[k] == "{":
                depth += 1
            elif code[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, k) + 1
        found.append((last - first + 1, first, m.group(1)))
    return found


def rs_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                for f in sorted(files):
                    if f.endswith(".rs"):
                        yield os.path.join(root, f)
        else:
            yield p


def main(argv):
    limit, top, paths = 80, 10, []
    it = iter(argv)
    for a in it:
        if a == "--max":
            limit = int(next(it))
        elif a == "--top":
            top = int(next(it))
        else:
            paths.append(a)
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = []
    for f in sorted(set(rs_files(paths))):
        for lines, line, name in functions(f):
            rows.append((lines, f"{f}:{line}", name))
    rows.sort(key=lambda r: (-r[0], r[1]))
    for lines, at, name in rows[:top]:
        print(f"{lines:5}  {at}  {name}")
    over = [r for r in rows if r[0] > limit]
    print(f"over {limit}: {len(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
