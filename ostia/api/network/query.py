"""Neutron's list query over in-memory items: filters, tags, sorting, pages, fields.

Filters follow Neutron with filter validation on: any attribute of the resource is a
filter, repeating a parameter means "any of these values", an unknown attribute is a 400.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Collection, Sequence
from typing import Any

PAGING_PARAMS = frozenset({"limit", "marker", "page_reverse", "sort_key", "sort_dir"})
TAG_PARAMS = frozenset({"tags", "tags-any", "not-tags", "not-tags-any"})


class BadQuery(ValueError):
    """The query cannot be answered; the message is Neutron's."""


@dataclasses.dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    links: list[dict[str, str]]


def grouped(params: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Query parameters by name, repeated values kept in order."""
    groups: dict[str, list[str]] = {}
    for key, value in params:
        groups.setdefault(key, []).append(value)
    return groups


def filter_ids(params: Sequence[tuple[str, str]]) -> list[str]:
    return grouped(params).get("id", [])


def _matches(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, list):
        return any(_matches(entry, wanted) for entry in value)
    if isinstance(value, bool):
        return any(w.strip().lower() == str(value).lower() for w in wanted)
    if value is None:
        return any(w in ("", "None", "null") for w in wanted)
    return str(value) in wanted


def _tags_match(tags: Collection[str], groups: dict[str, list[str]]) -> bool:
    def values(name: str) -> set[str]:
        return {t for v in groups.get(name, []) for t in v.split(",") if t}

    have = set(tags)
    if (wanted := values("tags")) and not wanted <= have:
        return False
    if (wanted := values("tags-any")) and not wanted & have:
        return False
    if (wanted := values("not-tags")) and wanted <= have:
        return False
    return not ((wanted := values("not-tags-any")) and wanted & have)


def filtered(
    items: list[dict[str, Any]], params: Sequence[tuple[str, str]], fields: Collection[str]
) -> list[dict[str, Any]]:
    groups = grouped(params)
    filters = {
        k: v for k, v in groups.items() if k not in PAGING_PARAMS and k not in TAG_PARAMS and k != "fields"
    }
    unknown = sorted(set(filters) - set(fields))
    if unknown:
        raise BadQuery(f"[{', '.join(unknown)}] is invalid attribute for filtering")
    return [
        item
        for item in items
        if all(_matches(item.get(key), wanted) for key, wanted in filters.items())
        and _tags_match(item.get("tags", []), groups)
    ]


def _sorted(
    items: list[dict[str, Any]], groups: dict[str, list[str]], fields: Collection[str]
) -> list[dict[str, Any]]:
    keys = groups.get("sort_key", [])
    dirs = groups.get("sort_dir", [])
    for key in keys:
        if key not in fields:
            raise BadQuery(f"{key} is an invalid attribute for sort_key")
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise BadQuery(f"{direction} is an invalid value for sort_dir, valid values are 'asc' and 'desc'")
    ordered = list(items)
    # Stable sorts applied from the least significant key to the most significant.
    for index in reversed(range(len(keys))):
        direction = dirs[index] if index < len(dirs) else "asc"
        ordered.sort(key=_sort_key(keys[index]), reverse=direction == "desc")
    return ordered


def _sort_key(key: str) -> Callable[[dict[str, Any]], tuple[bool, str]]:
    return lambda item: (item.get(key) is None, str(item.get(key)))


def _limit(groups: dict[str, list[str]]) -> int | None:
    raw = groups.get("limit", [None])[-1]
    if raw is None:
        return None
    try:
        limit = int(raw)
    except ValueError:
        raise BadQuery(f"Bad limit request: Limit must be an integer 0 or greater and not '{raw}'.") from None
    if limit < 0:
        raise BadQuery(f"Bad limit request: Limit must be an integer 0 or greater and not '{raw}'.")
    return limit or None


def _link(url: str, params: Sequence[tuple[str, str]], marker: str, reverse: bool) -> str:
    kept = [(k, v) for k, v in params if k not in ("marker", "page_reverse")]
    kept.append(("marker", marker))
    if reverse:
        kept.append(("page_reverse", "True"))
    return f"{url}?{urllib.parse.urlencode(kept)}"


def paged(
    items: list[dict[str, Any]], params: Sequence[tuple[str, str]], url: str, fields: Collection[str]
) -> Page:
    """Sort, then cut one page after (or, with page_reverse, before) the marker."""
    groups = grouped(params)
    ordered = _sorted(items, groups, fields)
    limit = _limit(groups)
    marker = groups.get("marker", [None])[-1]
    reverse = groups.get("page_reverse", ["False"])[-1].lower() == "true"
    if marker is not None:
        ids = [item["id"] for item in ordered]
        if marker not in ids:
            raise BadQuery(f"Marker {marker} could not be found.")
        at = ids.index(marker)
        ordered = ordered[:at] if reverse else ordered[at + 1 :]
    if limit is None:
        return Page(ordered, [])
    page = ordered[-limit:] if reverse else ordered[:limit]
    links: list[dict[str, str]] = []
    if page and len(page) == limit:
        edge = page[0]["id"] if reverse else page[-1]["id"]
        links.append({"href": _link(url, params, edge, reverse), "rel": "next"})
    if page and marker is not None:
        edge = page[-1]["id"] if reverse else page[0]["id"]
        links.append({"href": _link(url, params, edge, not reverse), "rel": "previous"})
    return Page(page, links)


def selected(item: dict[str, Any], params: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Only the attributes named by `fields=` (all of them without it)."""
    wanted = [v for k, v in params if k == "fields" and v]
    if not wanted:
        return item
    return {key: value for key, value in item.items() if key in wanted}
