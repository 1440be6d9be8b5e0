#!/usr/bin/env python3
"""Lengths of Rust functions (signature line to closing brace), longest first.

Usage: fn_lengths.py [--over N] FILE...
A small lexer skips strings, chars and comments so braces inside them do not count.
"""
import re
import sys

FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def code_only(text):
    """The text with comments, strings and char literals blanked, newlines kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j): depth += 1; j += 2
                elif text.startswith("*/", j): depth -= 1; j += 2
                else: j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif re.match(r'(b?r)(#*)"', text[i:i + 40]) and (i == 0 or not (text[i-1].isalnum() or text[i-1] == "_")):
            m = re.match(r'(b?r)(#*)"', text[i:i + 40])
            close = '"' + m.group(2)
            j = text.find(close, i + len(m.group(0)))
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == "'":
            m = re.match(r"'(\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'])'", text[i:i + 16])
            if m:
                out.append(" " * len(m.group(0))); i += len(m.group(0))
            else:
                out.append(c); i += 1
        else:
            out.append(c); i += 1
    return "".join(out)


def functions(path):
    text = code_only(open(path, encoding="utf-8").read())
    for m in FN.finditer(text):
        depth, j = 0, m.end()
        while j < len(text):
            ch = text[j]
            if ch in "([": depth += 1
            elif ch in ")]": depth -= 1
            elif depth == 0 and ch == ";": break
            elif depth == 0 and ch == "{": break
            j += 1
        if j >= len(text) or text[j] == ";":
            continue
        braces, k = 0, j
        while k < len(text):
            if text[k] == "{": braces += 1
            elif text[k] == "}":
                braces -= 1
                if braces == 0: break
            k += 1
        start = text.count("\n", 0, m.start()) + 1
        end = text.count("\n", 0, k) + 1
        yield m.group(1), start, end - start + 1


def main(args):
    over = 0
    if args[:1] == ["--over"]:
        over, args = int(args[1]), args[2:]
    rows = []
    for path in args:
        for name, line, length in functions(path):
            rows.append((length, f"{path}:{line}", name))
    rows.sort(key=lambda r: (-r[0], r[1]))
    for length, where, name in rows:
        if length > over:
            print(f"{length:5}  {name:32} {where}")


if __name__ == "__main__":
    main(sys.argv[1:])
