#!/usr/bin/env python3
"""apiref.py: write docs/api.md, the API reference, from the public headers.

Every MT_EXPORT declaration in include/mtask/*.h is listed under its header
with the comment block above it, so the reference cannot drift from the
code. `apiref.py --check` exits 1 when docs/api.md is stale (a test runs it).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADERS = sorted((ROOT / "include" / "mtask").glob("*.h"))
OUT = ROOT / "docs" / "api.md"

# What the reference lists: exported calls, public types and MT_ macros.
DECL = re.compile(r"^(?:MT_EXPORT\s+(?P<call>.*?;)"
                  r"|(?P<struct>typedef struct \w+ \{.*?\n\} \w+;)"
                  r"|(?P<typedef>typedef [^{;]*;)"
                  r"|(?P<macro>#define MT_(?!EXPORT)\w+.*?$)"
                  r"|(?P<enum>enum \{.*?\};))", re.S | re.M)


def clean_comment(text):
    lines = [re.sub(r"^\s*\* ?", "", l).rstrip() for l in text.strip().splitlines()]
    return "\n".join(lines).strip()


def header_summary(source):
    first = re.match(r"\s*/\*(.*?)\*/", source, re.S)
    return clean_comment(first.group(1)) if first else ""


def entries(source):
    """Yields (declarations, comment) for each MT_EXPORT group; consecutive
    declarations under one comment share it."""
    pos = 0
    pending = []
    comment = ""
    for match in DECL.finditer(source):
        before = source[pos:match.start()]
        start, end = before.rfind("/*"), before.rfind("*/")
        if start >= 0 and end > start and before[end + 2:].strip() == "":
            if pending:
                yield pending, comment
            pending, comment = [], clean_comment(before[start + 2:end])
        if match.group("struct"):
            pending.append(match.group("struct"))
        else:
            text = next(g for g in match.groups() if g)
            pending.append(" ".join(text.split()))
        pos = match.end()
    if pending:
        yield pending, comment


def render():
    out = ["# API reference", "",
           "Generated from the headers by `scripts/apiref.py`; do not edit.",
           "The headers are the source: each call's comment says what it does,",
           "what it returns, its errors and its thread, process and fork safety.", ""]
    for header in HEADERS:
        source = header.read_text()
        out += [f"## `mtask/{header.name}`", "", header_summary(source), ""]
        for decls, comment in entries(source):
            out += ["```c"] + decls + ["```", ""]
            if comment:
                out += [comment, ""]
    return "\n".join(out).rstrip() + "\n"


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/api.md is stale: run scripts/apiref.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
