"""What the thanks section and the thanks page show: pure views of people.

Who to name (anyone who wrote something, bookmarks included), how many liked
or reposted, and everyone who responded in a stable order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from markupsafe import escape

from . import render
from .i18n import Strings
from .identity import identify
from .model import REACTION_KINDS, Person, Post, Response


def thanks_view(
    responses: Iterable[Response],
    friends: dict[str, str],
    strings: Strings,
    date_format: str | None,
    latest: Mapping[str, Post] | None = None,
    avatars: Mapping[str, str] | None = None,
) -> render.ThanksView:
    """Who to name (anyone who wrote something), and the counted reactions;
    ``latest`` maps a person's key to their newest post, shown by the name.
    With ``avatars`` (avatar URL -> its copy in the site) the people who
    liked or reposted are shown as faces too."""
    responses = list(responses)
    people, anonymous = identify([r for r in responses if r.named], friends)
    views = [_person(p, strings, date_format, latest=latest, inline=True) for p in people]
    if anonymous:
        views.append(render.anonymous_view(anonymous, strings))
    likes = _reactors(responses, "like", friends)
    reposts = _reactors(responses, "repost", friends)
    reactions = []
    if likes:
        reactions.append(strings.plural("{n} person liked this", "{n} people liked this", likes))
    if reposts:
        reactions.append(strings.plural("reposted {n} time", "reposted {n} times", reposts))
    text = ", ".join(reactions)
    return render.ThanksView(
        people=tuple(views),
        likes=likes,
        reposts=reposts,
        line=strings.thanks_line(v.html for v in views),
        reactions=escape(text[:1].upper() + text[1:] + "." if text else ""),
        faces=_faces(responses, friends, avatars) if avatars is not None else (),
    )


#: Faces shown per article; the count above says how many there are in all.
MAX_FACES = 40


def _faces(
    responses: list[Response], friends: dict[str, str], avatars: Mapping[str, str]
) -> tuple[render.FaceView, ...]:
    people, _anonymous = identify([r for r in responses if r.kind in REACTION_KINDS], friends)
    faces = []
    for person in people[:MAX_FACES]:
        picture = next((r.avatar_url for r in person.responses if r.avatar_url), "")
        faces.append(render.face_view(person.name, person.url, avatars.get(picture, "")))
    return tuple(faces)


def _reactors(responses: list[Response], kind: str, friends: dict[str, str]) -> int:
    """How many people reacted this way (each person once; anonymous ones each)."""
    people, anonymous = identify([r for r in responses if r.kind == kind], friends)
    return len(people) + anonymous


def _person(
    person: Person,
    strings: Strings,
    date_format: str | None,
    articles: int = 0,
    *,
    latest: Mapping[str, Post] | None = None,
    inline: bool = False,
) -> render.PersonView:
    return render.person_view(
        person.name,
        person.url,
        friend=person.friend,
        kinds=tuple(person.kinds),
        count=len(person.responses),
        last=person.last,
        strings=strings,
        date_format=date_format,
        articles=articles,
        latest=(latest or {}).get(person.key),
        inline=inline,
    )


def responder_views(
    people: list[Person],
    article_of: dict[str, str],
    strings: Strings,
    date_format: str | None,
    latest: Mapping[str, Post] | None = None,
) -> list[render.PersonView]:
    """Everyone who responded, most responses first, then most recent, then name."""

    def order(person: Person) -> tuple[int, float, str]:
        last = person.last
        return (
            -len(person.responses),
            -(last.timestamp() if last else 0.0),
            person.name.casefold(),
        )

    return [
        _person(
            p, strings, date_format, len({article_of.get(r.id) for r in p.responses}), latest=latest
        )
        for p in sorted(people, key=order)
    ]
