"""Notes and chapter text as Markdown: markdown-it-py with raw HTML off, then nh3 as a sanitiser.

markdown-it with `html=False` escapes anything the author types as a tag and refuses
`javascript:` links; nh3 (ammonia) then keeps only an allow-list of tags and attributes, which
catches a renderer bug rather than the author's input. Limits are the course's: a note is at
most 32 KB with at most 8 tags matching ^[a-z][a-z0-9-]{0,30}$, anchored to
`phase-NN::<chapter-id>[::p<paragraph>]` (at most 128 characters).
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

MAX_NOTE_BYTES = 32 * 1024
MAX_TAGS = 8
MAX_ANCHOR = 128
TAG_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
ANCHOR_RE = re.compile(r"^phase-\d{2}::[a-z0-9][a-z0-9-]{0,63}(::p\d{1,4})?$")
ALLOWED_TAGS = {"p", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "h3", "h4", "a", "br", "hr"}
ALLOWED_ATTRS = {"a": {"href", "title"}}

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


class NoteError(ValueError):
    pass


def parse_tags(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,]+", text.strip()) if t]


def validate(anchor: str, body: str, tags: list[str]) -> None:
    """NoteError naming the first broken rule."""
    if len(anchor) > MAX_ANCHOR or not ANCHOR_RE.match(anchor):
        raise NoteError(f"anchor must look like phase-NN::chapter-id, at most {MAX_ANCHOR} characters")
    if len(body.encode("utf-8", "surrogatepass")) > MAX_NOTE_BYTES:
        raise NoteError(f"note larger than {MAX_NOTE_BYTES // 1024} KB")
    if len(tags) > MAX_TAGS:
        raise NoteError(f"at most {MAX_TAGS} tags")
    bad = [t for t in tags if not TAG_RE.match(t)]
    if bad:
        raise NoteError(f"tag {bad[0]!r}: lower-case letter first, then letters, digits or hyphens (at most 31)")


def sanitize(fragment: str) -> str:
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRS, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")


def render(markdown: str) -> str:
    """Safe HTML for a Markdown source (chapter summaries, goals, notes)."""
    return sanitize(_md.render(markdown))


def live_script(rendered: str) -> int:
    """Markup a browser would execute: script tags, event-handler attributes, javascript: URLs."""
    return len(re.findall(r"<script|<[^>]*\son\w+\s*=|<[^>]*javascript:", rendered, flags=re.IGNORECASE))
