"""Escaping for Textual markup: run ids, YAML text and manifest values are shown verbatim.

Textual's markup parser is stricter than Rich's (`["a=b"]` reads as a tag), so every
`[` is escaped, and a trailing backslash is kept from escaping a closing tag after it.
"""

from __future__ import annotations


def esc(text: object) -> str:
    s = str(text).replace("[", r"\[")
    return s + " " if s.endswith("\\") else s
