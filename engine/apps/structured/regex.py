"""Regular expressions as Brzozowski derivatives: the character automaton behind every mask.

Why derivatives: `transition(state, char)` is just "the language left after reading char", so a
state is itself a (simplified) regex, interned so that equal states are the same object. Walking
a token's characters through `transition` decides if the token is legal; caching the result per
state is the precompiled `mask[state][token]` table production libraries build (phase 30, theory 03).

    r = seq(lit('"'), alt(*map(lit, ["be", "go"])), lit('"'))
    s = transition(r, '"')          # None when the character is illegal
    nullable(s) / is_final(s)       # may stop here / must stop here
"""

from __future__ import annotations

from collections.abc import Iterable


class Node:
    """One interned regex node; identity is structural equality (see `_make`)."""

    __slots__ = ("kind", "args", "uid", "nullable")

    def __init__(self, kind: str, args: tuple, uid: int, nullable: bool) -> None:
        self.kind, self.args, self.uid, self.nullable = kind, args, uid, nullable

    def __repr__(self) -> str:
        return f"<{self.kind}#{self.uid}>"


_TABLE: dict[tuple, Node] = {}
_DERIV: dict[tuple[int, str], Node] = {}


def _key(arg: object) -> object:
    if isinstance(arg, Node):
        return ("n", arg.uid)
    if isinstance(arg, frozenset):
        return frozenset(_key(a) for a in arg)
    return arg


def _make(kind: str, args: tuple, nullable: bool) -> Node:
    key = (kind, tuple(_key(a) for a in args))
    node = _TABLE.get(key)
    if node is None:
        node = _TABLE[key] = Node(kind, args, len(_TABLE), nullable)
    return node


EMPTY = _make("empty", (), False)  # matches nothing
EPS = _make("eps", (), True)       # matches only the empty string


def chars(cs: Iterable[str]) -> Node:
    cs = frozenset(cs)
    return _make("chars", (cs,), False) if cs else EMPTY


def seq(*parts: Node) -> Node:
    out = EPS
    for p in reversed(parts):
        out = _seq2(p, out)
    return out


def _seq2(a: Node, b: Node) -> Node:
    if a is EMPTY or b is EMPTY:
        return EMPTY
    if a is EPS:
        return b
    if b is EPS:
        return a
    if a.kind == "seq":  # keep sequences right-nested so equal languages intern to one state
        return _seq2(a.args[0], _seq2(a.args[1], b))
    return _make("seq", (a, b), a.nullable and b.nullable)


def alt(*parts: Node) -> Node:
    items: set[Node] = set()
    for p in parts:
        if p.kind == "alt":
            items.update(p.args[0])
        elif p is not EMPTY:
            items.add(p)
    if not items:
        return EMPTY
    if len(items) == 1:
        return next(iter(items))
    fs = frozenset(items)
    return _make("alt", (fs,), any(i.nullable for i in fs))


def rep(a: Node, lo: int, hi: int | None) -> Node:
    """a{lo,hi}; hi=None is unbounded."""
    if hi is not None and hi <= 0:
        return EPS
    if a is EMPTY:
        return EPS if lo == 0 else EMPTY
    if a is EPS:
        return EPS
    return _make("rep", (a, lo, hi), lo == 0 or a.nullable)


def lit(s: str) -> Node:
    return seq(*(chars(c) for c in s))


def transition(r: Node, c: str) -> Node | None:
    """The state after reading c, or None if no string of the language continues with c."""
    d = deriv(r, c)
    return None if d is EMPTY else d


def deriv(r: Node, c: str) -> Node:
    key = (r.uid, c)
    hit = _DERIV.get(key)
    if hit is not None:
        return hit
    k = r.kind
    if k in ("empty", "eps"):
        out = EMPTY
    elif k == "chars":
        out = EPS if c in r.args[0] else EMPTY
    elif k == "seq":
        a, b = r.args
        out = _seq2(deriv(a, c), b)
        if a.nullable:
            out = alt(out, deriv(b, c))
    elif k == "alt":
        out = alt(*(deriv(x, c) for x in r.args[0]))
    else:  # rep
        a, lo, hi = r.args
        out = _seq2(deriv(a, c), rep(a, max(lo - 1, 0), None if hi is None else hi - 1))
    _DERIV[key] = out
    return out


def walk(r: Node, s: str) -> Node | None:
    """Read a whole string (a multi-character token) character by character."""
    for c in s:
        nxt = transition(r, c)
        if nxt is None:
            return None
        r = nxt
    return r


def nullable(r: Node) -> bool:
    return r.nullable


def is_final(r: Node) -> bool:
    """Nothing but the end may follow."""
    return r is EPS


def matches(r: Node, s: str) -> bool:
    end = walk(r, s)
    return end is not None and end.nullable


DIGITS = "0123456789"
