"""Shared reading of Rust sources for scripts/check-cycles and scripts/check-lengths
(python3, no dependencies): the module tree of a crate from its `mod` declarations,
and source text with comments and literals blanked out (same length, same lines).
"""
import os
import re


def blank(text):
    """Comments, strings and char literals replaced by spaces; newlines kept."""
    out = []
    i, n = 0, len(text)

    def keep_newlines(s):
        return "".join("\n" if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep_newlines(text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(keep_newlines(text[i:j]))
            i = j
        elif c == "b" and nxt == '"':
            out.append(" ")
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(keep_newlines(text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}'), not a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


MOD_DECL = re.compile(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;")


def module_tree(root_file):
    """{module path ("crate", "crate::cli", ...): file} from the crate root's `mod x;` lines."""
    modules = {}

    def visit(name, path):
        modules[name] = path
        base = os.path.basename(path)
        folder = os.path.dirname(path)
        if base not in ("lib.rs", "main.rs", "mod.rs"):
            folder = os.path.join(folder, base[:-3])
        with open(path, encoding="utf-8") as f:
            code = blank(f.read())
        for m in MOD_DECL.finditer(code):
            child = m.group(1)
            for cand in (os.path.join(folder, child + ".rs"), os.path.join(folder, child, "mod.rs")):
                if os.path.exists(cand):
                    visit(f"{name}::{child}", cand)
                    break

    visit("crate", root_file)
    return modules
