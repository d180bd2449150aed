"""Which route answers a path: a tree of path segments, looked up in a few dict steps.

Starlette's router tries each route's regular expression in turn; with every v2 resource
under four prefixes that was about 50 tries per request, the largest single cost of a GET
of one object. Here a path is split at `/` and walked down a tree whose edges are literal
segments or one parameter (`{name}`, any non-empty segment), so a lookup costs one step
per segment whatever the number of routes.

Precedence is Starlette's: routes are ranked in the order they were added, and a route
whose method matches wins over an earlier one whose path matches but method does not
(`GET /quotas/defaults` and `PUT /quotas/{project_id}` both stay reachable).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """One method on one path shape: what to run and the template it was added with."""

    method: str
    template: str
    target: T
    param_names: tuple[str, ...]
    rank: int


@dataclasses.dataclass(frozen=True)
class Match(Generic[T]):
    """The route for a request's method and path, with the path's parameter values."""

    entry: Entry[T]
    values: tuple[str, ...]

    @property
    def params(self) -> dict[str, str]:
        return dict(zip(self.entry.param_names, self.values, strict=True))


@dataclasses.dataclass(frozen=True)
class WrongMethod:
    """The path has routes, none for the request's method (405 with these in Allow)."""

    allowed: tuple[str, ...]


class _Node(Generic[T]):
    __slots__ = ("literals", "param", "methods")

    def __init__(self) -> None:
        self.literals: dict[str, _Node[T]] = {}
        self.param: _Node[T] | None = None
        self.methods: dict[str, Entry[T]] = {}


class RouteTable(Generic[T]):
    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self._count = 0

    def add(self, method: str, template: str, target: T) -> None:
        """Serve `method template` (e.g. `GET /v2/lbaas/pools/{pool_id}`) with `target`."""
        node = self._root
        names: list[str] = []
        for segment in _segments(template):
            if segment.startswith("{") and segment.endswith("}"):
                names.append(segment[1:-1])
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                node = node.literals.setdefault(segment, _Node())
        if method in node.methods:
            raise ValueError(f"two routes for {method} {template}")
        node.methods[method] = Entry(method, template, target, tuple(names), self._count)
        self._count += 1

    def match(self, method: str, path: str) -> Match[T] | WrongMethod | None:
        """The route for `method path`; WrongMethod if only other methods serve the path;
        None if no route has this path."""
        best: Match[T] | None = None
        first_shape: _Node[T] | None = None
        first_rank = -1
        for node, values in _walk(self._root, _segments(path), 0, ()):
            entry = node.methods.get(method)
            if entry is not None and (best is None or entry.rank < best.entry.rank):
                best = Match(entry, values)
            rank = min(e.rank for e in node.methods.values())
            if first_shape is None or rank < first_rank:
                first_shape, first_rank = node, rank
        if best is not None:
            return best
        if first_shape is not None:
            return WrongMethod(tuple(sorted(first_shape.methods)))
        return None

    def entries(self) -> Iterator[Entry[T]]:
        """Every route, in the order it was added."""
        found: list[Entry[T]] = []
        stack = [self._root]
        while stack:
            node = stack.pop()
            found.extend(node.methods.values())
            stack.extend(node.literals.values())
            if node.param is not None:
                stack.append(node.param)
        return iter(sorted(found, key=lambda e: e.rank))


def _segments(path: str) -> list[str]:
    # "/a/b" -> ["a", "b"]; an empty segment ("a//b", "a/") matches no parameter.
    return path.split("/")[1:] if path.startswith("/") else path.split("/")


def _walk(
    node: _Node[T], segments: list[str], index: int, values: tuple[str, ...]
) -> Iterator[tuple[_Node[T], tuple[str, ...]]]:
    """Every node with routes that the path reaches, with the parameter values on the way."""
    if index == len(segments):
        if node.methods:
            yield node, values
        return
    segment = segments[index]
    literal = node.literals.get(segment)
    if literal is not None:
        yield from _walk(literal, segments, index + 1, values)
    if node.param is not None and segment:
        yield from _walk(node.param, segments, index + 1, (*values, segment))
