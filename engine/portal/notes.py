"""Inline notes: anchors, Markdown with raw HTML disabled, and a sanitiser as a second line of defence.

Rendering escapes every character of the source first, then adds a small fixed set of Markdown tags
(paragraphs, **bold**, *em*, `code`), so no tag the author typed can survive. `sanitize` then removes
any tag outside an allow-list, which catches a renderer bug rather than the author's input.
"""

from __future__ import annotations

import html
import re

MAX_NOTE_BYTES = 32 * 1024
MAX_TAGS = 8
MAX_ANCHOR = 128
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
ANCHOR_RE = re.compile(r"^phase-\d{2}/[a-z0-9-]{1,64}#p\d{1,4}$")
ALLOWED = {"p", "strong", "em", "code"}


class NoteError(ValueError):
    pass


def validate(anchor: str, body: str, tags: list[str]) -> None:
    if len(anchor) > MAX_ANCHOR or not ANCHOR_RE.match(anchor):
        raise NoteError("anchor must be phase-NN/heading#pN, at most 128 characters")
    if len(body.encode()) > MAX_NOTE_BYTES:
        raise NoteError("note larger than 32 KB")
    if len(tags) > MAX_TAGS or not all(TAG_RE.match(t) for t in tags):
        raise NoteError("at most 8 tags of lower-case letters, digits and hyphens")


def render(markdown: str) -> str:
    out = []
    for para in re.split(r"\n\s*\n", markdown.strip()):
        text = html.escape(para, quote=True)
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
        text = re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)
        out.append(f"<p>{text}</p>")
    return sanitize("\n".join(out))


def sanitize(fragment: str) -> str:
    return re.sub(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>", lambda m: m.group(0) if m.group(1).lower() in ALLOWED
                  and m.group(0) in (f"<{m.group(1)}>", f"</{m.group(1)}>") else "", fragment)


def live_script(rendered: str) -> int:
    """Markup in the output that a browser would execute: script tags, event handlers, javascript: URLs."""
    return len(re.findall(r"<script|<[^>]*\son\w+\s*=|<[^>]*javascript:", rendered, flags=re.IGNORECASE))
