"""Hostile names, and a reading of Discord markdown that tells whether one was shown as plain text.

Anyone can name a MusicBrainz track, a YouTube video, an uploaded file or its tags; every reply that shows
such a name is tested with :data:`HOSTILE`, and :func:`assert_shown` checks the rendered text the way
Discord reads it: a backslash before ASCII punctuation makes that character plain.
"""

from __future__ import annotations

import dataclasses
import re
import string
from urllib.parse import urlsplit

EVIL = "evil.example"


@dataclasses.dataclass(frozen=True)
class Hostile:
    """A name, and what a reader must see of it (one line, invisible characters gone)."""

    name: str
    reads_as: str = ""

    def __post_init__(self) -> None:
        if not self.reads_as:
            object.__setattr__(self, "reads_as", self.name)


LONG = "[" + "very long name " * 30 + f"](https://{EVIL}/long)"
HOSTILE: tuple[Hostile, ...] = (
    Hostile(f"[click](https://{EVIL})"),
    Hostile(f"Intro [free nitro](https://{EVIL}/nitro) (feat. [x](<https://{EVIL}/y>))"),
    Hostile("**bold** __underline__ *it* _it_"),
    Hostile("`code` and ```block```"),
    Hostile("||spoiler|| ~~struck~~"),
    Hostile("# header"),
    Hostile("> quote"),
    Hostile(">>> all quoted"),
    Hostile("-# subtext"),
    Hostile("- list item"),
    Hostile("1. first"),
    Hostile(f"<https://{EVIL}/autolink>"),
    Hostile("<@123456789012345678> <#123456789012345678> <t:0:R>"),
    Hostile("@everyone @here"),
    Hostile(f"\\[escaped](https://{EVIL}/backslash)"),
    Hostile(f"[zero\u200bwidth]\u200b(https://{EVIL}/zw)", f"[zerowidth](https://{EVIL}/zw)"),
    Hostile("two\nlines\n# second", "two lines # second"),
    Hostile(LONG, " ".join(LONG.split())),
)

# What Discord's markdown gives a meaning anywhere in a line, and what only at a line's start.
ANYWHERE = set("\\*_~`|[]()<>#")
LINE_START = re.compile(r"[-+]|\d+[.)]")


@dataclasses.dataclass(frozen=True)
class Reading:
    """Rendered text as Discord reads it: the visible characters, and which of them were escaped."""

    visible: str
    escaped: tuple[bool, ...]

    @classmethod
    def of(cls, raw: str) -> Reading:
        visible: list[str] = []
        escaped: list[bool] = []
        i = 0
        while i < len(raw):
            if raw[i] == "\\" and i + 1 < len(raw) and raw[i + 1] in string.punctuation:
                visible.append(raw[i + 1])
                escaped.append(True)
                i += 2
            else:
                visible.append(raw[i])
                escaped.append(False)
                i += 1
        return cls("".join(visible), tuple(escaped))


def live_links(raw: str) -> list[str]:
    """The targets of masked links Discord would make of ``raw``: ``[text](target)`` with the brackets and
    parentheses unescaped."""
    reading = Reading.of(raw)
    text, plain = reading.visible, [not e for e in reading.escaped]
    targets = []
    for start, char in enumerate(text):
        if char != "[" or not plain[start]:
            continue
        close = next((j for j in range(start + 1, len(text) - 1)
                      if text[j] == "]" and plain[j] and text[j + 1] == "(" and plain[j + 1]), None)
        if close is None:
            continue
        end = next((j for j in range(close + 2, len(text)) if text[j] == ")" and plain[j]), None)
        if end is not None:
            targets.append(text[close + 2 : end])
    return targets


def assert_shown(raw: str, hostile: Hostile, *, upper: bool = False, at_least: int = 20) -> None:
    """``hostile`` reads as itself in ``raw`` (or a clipped start of it, ending in "…"), every markdown
    character of it escaped, and no masked link in ``raw`` leads to the hostile site.

    Parameters
    ----------
    raw : str
        What the bot sent (an embed's title, description, field values... joined).
    hostile : Hostile
    upper : bool
        The reply writes the name in upper case (Fantano's picks).
    at_least : int
        A clipped name must still show this many of its first characters.
    """
    to_evil = [t for t in live_links(raw) if (urlsplit(t.strip("<> ")).hostname or "").endswith(EVIL)]
    assert not to_evil, f"a live link to {EVIL} in {raw!r}"
    reading = Reading.of(raw)
    want = hostile.reads_as.upper() if upper else hostile.reads_as
    spans = [range(m.start(), m.start() + len(want)) for m in re.finditer(re.escape(want), reading.visible)]
    if not spans:  # clipped: the longest start of it that is followed by the ellipsis
        length = next((n for n in range(len(want) - 1, at_least - 1, -1)
                       if want[:n] + "…" in reading.visible), 0)
        assert length, f"{want!r} does not read as itself in {reading.visible!r}"
        start = reading.visible.find(want[:length] + "…")
        spans = [range(start, start + length)]
    for span in spans:
        live = [reading.visible[i] for i in span if reading.visible[i] in ANYWHERE and not reading.escaped[i]]
        assert not live, f"unescaped {live} of {want!r} in {raw!r}"
        line_start = span.start == 0 or reading.visible[span.start - 1] == "\n"
        if line_start and (marker := LINE_START.match(want)):
            assert any(reading.escaped[i] for i in span[: marker.end()]), f"a live list marker in {raw!r}"


def embed_text(embed: dict) -> str:
    """What an embed (as sent: a dict) shows: title, description, fields and footer, one per line."""
    fields = [f"{f.get('name', '')}\n{f.get('value', '')}" for f in embed.get("fields", [])]
    footer = embed.get("footer", {}).get("text", "")
    return "\n".join([embed.get("title", ""), embed.get("description", ""), *fields, footer])
