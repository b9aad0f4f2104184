"""What a tag is to gsep: :class:`Tags` and :class:`Cover`, shared by the readers
(:mod:`~gsep_cli.audio.tagread`), the writers (:mod:`~gsep_cli.audio.tagwrite`) and
:mod:`~gsep_cli.audio.tags`, which puts them together (so none of them imports another
in a circle)."""

from __future__ import annotations

from dataclasses import dataclass, fields

FRONT_COVER = 3
"""The picture type of a front cover (ID3v2.4 APIC and FLAC PICTURE share the list)."""

JOIN = "; "
"""What joins several values of one field."""


@dataclass(frozen=True)
class Cover:
    """Cover art: the image file's bytes as stored and its MIME type (``image/jpeg``)."""

    data: bytes
    mime: str


@dataclass(frozen=True)
class Tags:
    """The tags gsep carries from an input to its stems; every field None when absent.

    ``track``/``disc`` are the numbers (0 or more) and ``track_total``/``disc_total`` the
    counts; ``date`` is the text as tagged (``"1999"``, ``"1999-05-01"``); ``cover`` the
    front cover, or the first picture when none is marked front.
    """

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    track: int | None = None
    track_total: int | None = None
    disc: int | None = None
    disc_total: int | None = None
    date: str | None = None
    genre: str | None = None
    cover: Cover | None = None

    @property
    def empty(self) -> bool:
        """True when no field is set."""
        return all(getattr(self, f.name) is None for f in fields(self))
