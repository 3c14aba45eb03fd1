"""Who is who: the only place that decides a person's key, a site, an owner.

Acknowledgements, moderation, the ledger, the command line and the plugin
all ask here, so "the same person" and "the same site" mean one thing
everywhere. Pure functions over :mod:`model` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field, replace

from .model import Friend, Person, Response, record
from .urls import host_of, is_web_url, normalise


def site_host(url: str) -> str:
    """The host (and a non-default port) of a URL, lowercased, without ``www.``."""
    if not url:
        return ""
    return normalise(url).split("/", 1)[0]


def same_site(a: str, b: str) -> bool:
    """True when both URLs are on one host: host equality, never a prefix test,
    so ``example.community`` is not ``example.com``."""
    host = site_host(a)
    return bool(host) and host == site_host(b)


def in_domains(url: str, domains: Iterable[str]) -> bool:
    """Is the URL's host one of ``domains`` or below one of them?"""
    host = host_of(url)
    host = host[4:] if host.startswith("www.") else host
    if not host:
        return False
    for domain in domains:
        domain = domain.lower().lstrip(".")
        if host == domain or host.endswith("." + domain):
            return True
    return False


def person_key(url: str, name: str) -> str:
    """One person's key: their normalised site when known, else their name."""
    return "url:" + normalise(url) if url else "name:" + name.casefold()


def person_keys(response: Response) -> set[str]:
    """Every key the author of a response may be known by."""
    keys = set()
    for url in (response.author_url, response.author_site):
        if url:
            keys.add("url:" + normalise(url))
    if response.author_name and not response.anonymous:
        keys.add("name:" + response.author_name.casefold())
    return keys


def friend_keys(friend: Friend, site: str) -> dict[str, str]:
    """The keys a friend is known by (their site, name and aliases) -> their name."""
    keys = {"name:" + friend.name.casefold(): friend.name}
    if site:
        keys["url:" + normalise(site)] = friend.name
    for alias in friend.aliases:
        keys["url:" + normalise(alias) if is_web_url(alias) else "name:" + alias.casefold()] = (
            friend.name
        )
    return keys


def is_owner(response: Response, *, author: str, siteurl: str) -> bool:
    """The blog's owner answering on their own blog is not a response to thank."""
    if author and response.author_name.casefold() == author.casefold():
        return True
    return bool(siteurl) and any(
        url and same_site(url, siteurl) for url in (response.author_url, response.author_site)
    )


@record
class Directory:
    """People by key, and the sites that belong to them (for the ledger)."""

    names: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)  # key -> site URL
    friends: set[str] = field(default_factory=set)
    prefixes: list[tuple[str, str]] = field(default_factory=list)  # (normalised prefix, key)
    by_name: dict[str, str] = field(default_factory=dict)  # casefolded name or alias -> key
    feeds: dict[str, str] = field(default_factory=dict)  # key -> a responder's discovered feed

    def add(
        self,
        key: str,
        name: str,
        url: str = "",
        *,
        friend: bool = False,
        also: Iterable[str] = (),
        feed: str = "",
    ) -> None:
        self.names.setdefault(key, name)
        if feed:
            self.feeds.setdefault(key, feed)
        for alias in (name, *also):
            if alias and not is_web_url(alias):
                self.by_name.setdefault(alias.casefold(), key)
        if url:
            self.urls.setdefault(key, url)
        if friend:
            self.friends.add(key)
        for prefix in (url, *also):
            if prefix and is_web_url(prefix):
                self.prefixes.append((normalise(prefix), key))

    def owner_of(self, url: str) -> str | None:
        """The person whose site ``url`` is on (the longest matching site path)."""
        target = normalise(url)
        best: tuple[int, str] | None = None
        for prefix, key in self.prefixes:
            inside = target == prefix or target.startswith(prefix.rstrip("/") + "/")
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), key)
        return best[1] if best else None

    def author_of(self, response: Response) -> str | None:
        """The known person who wrote a response, by their site, else their name."""
        for url in (response.author_site, response.author_url):
            owner = self.owner_of(url) if url else None
            if owner:
                return owner
        return self.by_name.get(response.author_name.casefold())


def identify(responses: Iterable[Response], friends: Mapping[str, str]) -> tuple[list[Person], int]:
    """Merge responses into people: by normalised URL, then by name.

    ``friends`` maps friend keys (see :func:`friend_keys`) to names. Returns
    the named people in a deterministic order (first response, then name)
    and the count of anonymous responses.
    """
    grouped: dict[str, list[Response]] = {}
    first: dict[str, Response] = {}
    by_name: dict[str, set[str]] = {}
    anonymous = 0
    pending: list[Response] = []
    for response in responses:
        if response.anonymous:
            anonymous += 1
            continue
        if not (response.author_url or response.author_site):
            pending.append(response)
            continue
        # a profile that proves its owner's site is known by that site
        key = person_key(response.author_site or response.author_url, response.author_name)
        first.setdefault(key, response)
        grouped.setdefault(key, []).append(response)
        by_name.setdefault(response.author_name.casefold(), set()).add(key)
    for response in pending:
        name = response.author_name.casefold()
        keys = by_name.get(name, set())
        key = next(iter(keys)) if len(keys) == 1 else "name:" + name
        first.setdefault(key, response)
        grouped.setdefault(key, []).append(response)
    people = []
    for key, group in grouped.items():
        head = first[key]
        url = (head.author_site or head.author_url) if key.startswith("url:") else ""
        person = Person(key=key, name=head.author_name, url=url, responses=tuple(group))
        match = friends.get(key) or (friends.get(person_key(url, "")) if url else None)
        if match or friends.get("name:" + person.name.casefold()):
            person = replace(person, friend=True)
        people.append(person)
    people.sort(key=lambda p: (p.first, p.name.casefold(), p.key))
    return people, anonymous
