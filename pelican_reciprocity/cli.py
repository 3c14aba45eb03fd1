"""``pelican-reciprocity``: curate the friends list from the terminal.

Every command reads the site's settings (``-s``, default ``./pelicanconf.py``)
so it uses the same friends file and cache as the build. Errors are one line
on stderr; exit codes: 0 ok, 1 problems found, 2 usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from .settings import Config, ConfigError, configure

OK, PROBLEMS, USAGE = 0, 1, 2
STALE_AFTER_DAYS = 182
COMMON_FEED_PATHS = (
    "/feed/",
    "/atom.xml",
    "/feed.xml",
    "/index.xml",
    "/rss.xml",
    "/feeds/posts/default",
)
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
)


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""


class Problem(Exception):
    """Something outside the user's control went wrong (network, a bad feed); exit 1."""


# -- settings and the friends file ---------------------------------------------------------


@dataclass
class Site:
    config: Config
    settings: dict[str, Any]
    root: Path

    @property
    def friends_file(self) -> Path:
        spec = self.config.friends
        if not isinstance(spec, str):
            raise UserError(
                "RECIPROCITY_FRIENDS is an inline list in the settings; this command "
                "edits a friends.toml file (point RECIPROCITY_FRIENDS at one)"
            )
        path = Path(spec).expanduser()
        path = path if path.is_absolute() else self.root / path
        if path.suffix.lower() in (".opml", ".xml"):
            raise UserError(
                f"RECIPROCITY_FRIENDS is the OPML file {path}; import it into a TOML "
                "friends file with `pelican-reciprocity import-opml` and point the setting there"
            )
        return path


def load_site(settings_path: str) -> Site:
    path = Path(settings_path)
    if not path.is_file():
        raise UserError(f"settings file {path} not found (use -s to name your pelicanconf.py)")
    from pelican.settings import read_settings

    os.chdir(path.resolve().parent)
    try:
        settings = read_settings(str(path.resolve()))
    except Exception as exc:  # a broken pelicanconf.py is the user's to fix
        raise UserError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    config = configure(settings)
    return Site(config=config, settings=settings, root=config.site_root)


def read_friends_document(path: Path) -> Any:
    import tomlkit

    if not path.exists():
        doc = tomlkit.document()
        doc.add(tomlkit.comment("The blogs I read. Managed by hand or with pelican-reciprocity."))
        doc["friends"] = tomlkit.aot()
        return doc
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except Exception as exc:  # tomlkit's errors carry the line and column
        raise UserError(f"{path}: TOML syntax error: {exc}") from None
    if "friends" not in doc:
        doc["friends"] = tomlkit.aot()
    return doc


def write_friends_document(path: Path, doc: Any) -> None:
    import tomlkit

    from .cache import write_atomic

    write_atomic(path, tomlkit.dumps(doc).encode("utf-8"))


def current_friends(site: Site) -> list[Any]:
    from .friends import load_friends

    try:
        return load_friends(site.config.friends, site.root).friends
    except ConfigError as exc:
        if "does not exist" in str(exc):
            return []
        raise


def duplicate_of(friends: Sequence[Any], feed: str, url: str) -> str | None:
    from .urls import normalise

    for friend in friends:
        if normalise(friend.feed) == normalise(feed):
            return f"{friend.name} already has the feed {friend.feed}"
        if url and friend.url and normalise(friend.url) == normalise(url):
            return f"{friend.name} already has the site {friend.url}"
    return None


# -- discovery -------------------------------------------------------------------------------


class _Alternates(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("link", "a"):
            return
        attr = {k.lower(): (v or "") for k, v in attrs}
        rels = attr.get("rel", "").lower().split()
        kind = attr.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_TYPES and attr.get("href"):
            self.links.append(attr["href"])


def feed_links(html: str, base: str) -> list[str]:
    parser = _Alternates()
    with contextlib.suppress(Exception):  # a broken page may still have given its links
        parser.feed(html)
    return [urljoin(base, href) for href in parser.links]


@dataclass
class Found:
    feed: str
    title: str
    link: str | None
    posts: list[Any]


def fetch_one(url: str, config: Config) -> Any:
    from .fetch import FetchRequest, fetch_all_sync
    from .refresh import limits_for

    limits = limits_for(config)
    return fetch_all_sync([FetchRequest(url)], limits, deadline=config.fetch_deadline)[url]


def discover(url: str, config: Config) -> Found:
    """Find the feed behind ``url`` (a feed or a home page) and check it parses."""
    from .feeds import parse_feed

    first = fetch_one(url, config)
    if first.error:
        raise Problem(f"cannot fetch {url}: {first.error}")
    body, where = first.body or b"", first.final_url or url
    parsed = parse_feed(body, base=where, content_type=first.content_type)
    if not parsed.problem:
        return Found(where, parsed.title, parsed.link, parsed.posts)
    if url.startswith("file:"):
        raise Problem(f"{url} is {parsed.problem}")
    tried: list[str] = []
    text = body.decode("utf-8", errors="replace")
    candidates = feed_links(text, where)
    origin = f"{urlsplit(where).scheme}://{urlsplit(where).netloc}"
    candidates += [origin + path for path in COMMON_FEED_PATHS]
    for candidate in dict.fromkeys(candidates):
        tried.append(candidate)
        result = fetch_one(candidate, config)
        if result.error or not result.body:
            continue
        feed = parse_feed(
            result.body, base=result.final_url or candidate, content_type=result.content_type
        )
        if not feed.problem:
            return Found(result.final_url or candidate, feed.title, feed.link or where, feed.posts)
    what = "an HTML page" if re.search(r"<html", text[:2000], re.I) else "not a feed"
    raise Problem(
        f'{url} is {what} with no feed: no <link rel="alternate"> feed, and none of '
        f"{', '.join(urlsplit(c).path for c in tried[-len(COMMON_FEED_PATHS) :])} answered with one"
    )


# -- commands --------------------------------------------------------------------------------


def cmd_add(site: Site, args: argparse.Namespace, out: Any) -> int:
    import tomlkit

    path = site.friends_file
    doc = read_friends_document(path)
    url = args.url.strip()
    from .friends import resolve_feed

    url, problem = resolve_feed(url, Path.cwd())
    if problem:
        raise UserError(problem)
    found = discover(url, site.config)
    friends = current_friends(site) if path.exists() else []
    site_url = found.link if found.link and found.link.startswith("http") else ""
    duplicate = duplicate_of(friends, found.feed, site_url)
    if duplicate:
        raise UserError(f"not added: {duplicate}")
    name = args.name or found.title or urlsplit(found.feed).hostname or found.feed
    entry = tomlkit.table()
    entry["name"] = name
    if site_url:
        entry["url"] = site_url
    entry["feed"] = found.feed
    if args.tag:
        entry["tags"] = list(args.tag)
    doc["friends"].append(entry)
    write_friends_document(path, doc)
    print(f"added {name} ({found.feed}) to {path}", file=out)
    return OK


def cmd_remove(site: Site, args: argparse.Namespace, out: Any) -> int:
    from .urls import normalise

    path = site.friends_file
    doc = read_friends_document(path)
    target = args.friend.strip()
    table = doc["friends"]
    for index, entry in enumerate(table):
        keys = {str(entry.get("name", "")).casefold()}
        for field in ("feed", "url"):
            if entry.get(field):
                keys.add(normalise(str(entry[field])))
        if target.casefold() in keys or normalise(target) in keys:
            del table[index]
            write_friends_document(path, doc)
            print(f"removed {entry.get('name') or entry.get('feed')} from {path}", file=out)
            return OK
    raise UserError(f"no friend named or with the address {target!r} in {path}")


def _status(friend: Any, entry: Any, config: Config, now: float) -> tuple[str, str]:
    """(status, detail) for one friend, from its cache entry."""
    if entry is None:
        return "not fetched", "run `pelican-reciprocity fetch`"
    if entry.error and entry.error.startswith("not a feed"):
        return "not a feed", entry.error
    if entry.error:
        copy = f"; copy from {_age(now - entry.fetched_at)}" if entry.has_copy else ""
        return "failed", entry.error + copy
    if entry.moved_to and entry.moved_to != friend.feed:
        return "moved permanently", entry.moved_to
    dates = [p.date for p in entry.posts if p.date]
    if not dates or (now - max(dates).timestamp()) > STALE_AFTER_DAYS * 86400:
        return "no posts for 6 months", (
            f"latest {max(dates).date().isoformat()}" if dates else "no posts"
        )
    if now - entry.fetched_at > config.cache_ttl:
        return "stale cache", f"fetched {_age(now - entry.fetched_at)}"
    return "ok", ""


def _age(seconds: float) -> str:
    from .cache import age_text

    return age_text(seconds)


def _rows(site: Site, friends: list[Any]) -> list[dict[str, Any]]:
    from .cache import FeedCache
    from .selection import latest

    cache = FeedCache(site.config.cache_path)
    now = time.time()
    rows = []
    for friend in friends:
        entry = cache.load(friend.feed)
        status, detail = _status(friend, entry, site.config, now)
        newest = latest(entry.posts, 1) if entry else []
        rows.append(
            {
                "name": friend.name,
                "feed": friend.feed,
                "status": status,
                "detail": detail,
                "latest": (
                    {
                        "title": newest[0].title,
                        "url": newest[0].url,
                        "date": newest[0].date.isoformat() if newest[0].date else None,
                    }
                    if newest
                    else None
                ),
            }
        )
    return rows


def _print_table(rows: list[dict[str, Any]], title: str, out: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("friend", "status", "latest post", "feed"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = row["status"] + (f": {row['detail']}" if row["detail"] else "")
        colour = "green" if row["status"] == "ok" else "yellow" if "stale" in status else "red"
        latest = row["latest"]
        latest_text = f"{latest['title']} ({(latest['date'] or '')[:10]})" if latest else "(none)"
        table.add_row(row["name"], f"[{colour}]{status}[/]", latest_text, row["feed"])
    Console(file=out, width=160).print(table)


def cmd_list(site: Site, args: argparse.Namespace, out: Any) -> int:
    rows = _rows(site, current_friends(site))
    if args.json:
        json.dump(rows, out, indent=2, ensure_ascii=False, sort_keys=True)
        out.write("\n")
    else:
        _print_table(rows, f"{len(rows)} friends", out)
    return OK


def _refresh(site: Site, friends: list[Any], *, force: bool, quiet: bool) -> Any:
    from rich.progress import Progress

    from .refresh import refresh

    if quiet or not friends:
        return refresh(friends, site.config, force=force)
    with Progress(transient=True, console=_console()) as progress:
        task = progress.add_task("fetching feeds", total=len(friends))
        return refresh(
            friends, site.config, force=force, progress=lambda state: progress.advance(task)
        )


def _console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)


def cmd_check(site: Site, args: argparse.Namespace, out: Any) -> int:
    friends = current_friends(site)
    report = _refresh(site, friends, force=args.refresh, quiet=args.json)
    rows = _rows(site, friends)
    if args.fix_redirects:
        fixed = _fix_redirects(site, rows)
        for old, new in fixed:
            print(f"moved {old} -> {new}", file=sys.stderr)
    if args.json:
        json.dump(rows, out, indent=2, ensure_ascii=False, sort_keys=True)
        out.write("\n")
    else:
        _print_table(rows, report.summary().removeprefix("reciprocity: "), out)
    bad = [r for r in rows if r["status"] in ("failed", "not a feed", "not fetched")]
    if args.strict:
        bad += [r for r in rows if r["status"] in ("moved permanently", "no posts for 6 months")]
        if args.fix_redirects:
            bad = [r for r in bad if r["status"] != "moved permanently"]
    for row in bad:
        print(f"{row['name']}: {row['status']}: {row['detail']}", file=sys.stderr)
    return PROBLEMS if (bad and args.strict) else OK


def _fix_redirects(site: Site, rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    moved = {r["feed"]: r["detail"] for r in rows if r["status"] == "moved permanently"}
    if not moved:
        return []
    path = site.friends_file
    doc = read_friends_document(path)
    from .friends import resolve_feed

    fixed = []
    for entry in doc["friends"]:
        feed, _ = resolve_feed(str(entry.get("feed", "")), path.parent)
        if feed in moved:
            entry["feed"] = moved[feed]
            fixed.append((feed, moved[feed]))
    if fixed:
        write_friends_document(path, doc)
    return fixed


def cmd_fetch(site: Site, args: argparse.Namespace, out: Any) -> int:
    from .refresh import log_failures

    friends = current_friends(site)
    report = _refresh(site, friends, force=args.refresh, quiet=False)
    import logging

    logging.basicConfig(format="%(levelname)s %(message)s", stream=sys.stderr)
    log_failures(report)
    print(report.summary(), file=out)
    return PROBLEMS if report.failed else OK


def cmd_import_opml(site: Site, args: argparse.Namespace, out: Any) -> int:
    import tomlkit

    from .friends import make_friend, read_opml

    source = Path(args.file)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror or exc}") from None
    entries, skipped = read_opml(data)
    path = site.friends_file
    doc = read_friends_document(path)
    friends = list(current_friends(site)) if path.exists() else []
    added = 0
    for entry in entries:
        friend, problem = make_friend(entry, path.parent)
        label = entry.get("name") or entry.get("feed")
        if problem or friend is None:
            skipped.append(f"{label}: {problem}")
            continue
        duplicate = duplicate_of(friends, friend.feed, friend.url)
        if duplicate:
            skipped.append(f"{label}: duplicate ({duplicate})")
            continue
        table = tomlkit.table()
        table["name"] = friend.name
        if friend.url:
            table["url"] = friend.url
        table["feed"] = friend.feed
        doc["friends"].append(table)
        friends.append(friend)
        added += 1
    if added:
        write_friends_document(path, doc)
    print(f"imported {added} friend(s) from {source} into {path}", file=out)
    for reason in skipped:
        print(f"skipped {reason}", file=out)
    return OK


def cmd_export_opml(site: Site, args: argparse.Namespace, out: Any) -> int:
    from .cache import FeedCache
    from .friends import friend_site
    from .render import opml

    cache = FeedCache(site.config.cache_path)
    friends = current_friends(site)
    pairs = []
    for friend in friends:
        entry = cache.load(friend.feed)
        pairs.append((friend, friend_site(friend, entry.link if entry else None)))
    title = f"{site.settings.get('SITENAME') or 'My site'}: {site.config.friends_heading}"
    body = opml(pairs, title=title)
    if args.file:
        Path(args.file).write_text(body, encoding="utf-8")
        print(f"wrote {len(friends)} friend(s) to {args.file}", file=out)
    else:
        out.write(body)
    return OK


# -- entry point -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pelican-reciprocity",
        description="Curate the friends list of a Pelican site that uses pelican-reciprocity.",
        epilog="Exit codes: 0 ok, 1 problems found, 2 usage errors.",
    )
    parser.add_argument(
        "-s", "--settings", default="pelicanconf.py", help="the site's settings file"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add = commands.add_parser("add", help="add a friend by feed or home-page URL")
    add.add_argument("url")
    add.add_argument("--name", help="their name (default: the feed's title)")
    add.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    add.set_defaults(run=cmd_add)

    remove = commands.add_parser("remove", help="remove a friend by name or URL")
    remove.add_argument("friend", metavar="NAME|URL")
    remove.set_defaults(run=cmd_remove)

    listing = commands.add_parser("list", help="list friends with their latest post and status")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_list)

    check = commands.add_parser("check", help="fetch every feed and report on each friend")
    check.add_argument("--refresh", action="store_true", help="ignore the cache TTL")
    check.add_argument("--strict", action="store_true", help="exit 1 on any problem")
    check.add_argument("--fix-redirects", action="store_true", help="rewrite moved feed URLs")
    check.add_argument("--json", action="store_true")
    check.set_defaults(run=cmd_check)

    fetch = commands.add_parser(
        "fetch", help="refresh the feed cache (e.g. before an offline build)"
    )
    fetch.add_argument("--refresh", action="store_true", help="ignore the cache TTL")
    fetch.set_defaults(run=cmd_fetch)

    importer = commands.add_parser("import-opml", help="add the subscriptions in an OPML file")
    importer.add_argument("file")
    importer.set_defaults(run=cmd_import_opml)

    exporter = commands.add_parser("export-opml", help="write the friends list as OPML 2.0")
    exporter.add_argument("file", nargs="?", help="output file (default: standard output)")
    exporter.set_defaults(run=cmd_export_opml)
    _add_ledger_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        site = load_site(args.settings)
        return args.run(site, args, sys.stdout)
    except (UserError, ConfigError) as exc:
        print(f"pelican-reciprocity: {exc}", file=sys.stderr)
        return USAGE
    except Problem as exc:
        print(f"pelican-reciprocity: {exc}", file=sys.stderr)
        return PROBLEMS
    except KeyboardInterrupt:
        return PROBLEMS
    except BrokenPipeError:  # `pelican-reciprocity list --json | head`
        sys.stderr.close()
        return OK


if __name__ == "__main__":
    sys.exit(main())


# -- the ledger: report and notify ---------------------------------------------------------


def _load_ledger(site: Site) -> dict[str, Any]:
    from . import ledger

    path = site.config.ledger_file
    if not path.exists():
        raise UserError(f"no ledger at {path} yet: build the site first (pelican content)")
    return ledger.load(path)


def cmd_report(site: Site, args: argparse.Namespace, out: Any) -> int:
    from datetime import UTC, datetime

    from . import ledger
    from .cache import FeedCache
    from .friends import friend_site
    from .selection import latest
    from .urls import normalise

    data = _load_ledger(site)
    try:
        since = datetime.now(UTC) - ledger.parse_since(args.since) if args.since else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    rows = ledger.owed_rows(data, since)
    highlighted = {
        normalise(url) for record in data.get("articles", {}).values() for url in record["curated"]
    }
    cache = FeedCache(site.config.cache_path)
    friends_by_key = {}
    for friend in current_friends(site):
        entry = cache.load(friend.feed)
        site_url = friend_site(friend, entry.link if entry else None)
        key = "url:" + normalise(site_url) if site_url else "name:" + friend.name.casefold()
        friends_by_key[key] = (friend, entry)
    suggestions = []
    for row in rows:
        if row["owed"] <= 0 or row["key"] not in friends_by_key:
            continue
        friend, entry = friends_by_key[row["key"]]
        fresh = [p for p in latest(entry.posts if entry else [], 10) if p.key not in highlighted]
        fresh = [p for p in fresh if normalise(p.url) not in highlighted]
        for post in fresh[:2]:
            suggestions.append(
                {
                    "friend": friend.name,
                    "title": post.title,
                    "url": post.url,
                    "date": post.date.isoformat() if post.date else None,
                }
            )
    given, total = ledger.share_of_responses(data, since)
    owed = [
        {
            "name": r["name"],
            "url": r["url"],
            "friend": r["friend"],
            "owed": r["owed"],
            "received": r["received"]["count"],
            "last_received": r["received"]["last"],
            "last_given": r["last_given"],
        }
        for r in rows
    ]
    report = {
        "since": args.since,
        "owed": owed,
        "suggestions": suggestions,
        "share": {"responding": given, "articles": total},
    }
    if args.json:
        json.dump(report, out, indent=2, sort_keys=True, ensure_ascii=False)
        out.write("\n")
        return OK
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, width=160)
    table = Table(title="Whom you owe a response" + (f" (last {args.since})" if args.since else ""))
    for column in ("person", "owed", "responses", "last response", "you last gave back"):
        table.add_column(column)
    for row in owed:
        table.add_row(
            row["name"] + (" (friend)" if row["friend"] else ""),
            str(row["owed"]),
            str(row["received"]),
            (row["last_received"] or "")[:10],
            (row["last_given"] or "never")[:10],
        )
    console.print(table)
    for row in owed:
        if row["owed"]:
            times = "once" if row["owed"] == 1 else f"{row['owed']} times"
            when = (
                "since you last highlighted them"
                if row["last_given"]
                else "and you have not highlighted them yet"
            )
            console.print(f"{row['name']} responded {times} {when}")
    if suggestions:
        console.print("\nSuggestions: recent posts from people you owe")
        for item in suggestions:
            console.print(f"  {item['friend']}: {item['title']} <{item['url']}>")
    if total:
        console.print(
            f"\n{given} of your {total} articles highlight or link to someone else "
            f"({given * 100 // total} % responses, {100 - given * 100 // total} % broadcasts)"
        )
    return OK


def cmd_notify(site: Site, args: argparse.Namespace, out: Any) -> int:
    from datetime import UTC, datetime, timedelta

    from . import ledger
    from .webmention import Sender, is_local_site

    config = site.config
    if is_local_site(config.siteurl):
        raise UserError(
            f"SITEURL is {config.siteurl!r}: notify needs the published site's address "
            "(try -s publishconf.py)"
        )
    data = _load_ledger(site)
    now = datetime.now(UTC)
    base = config.siteurl.rstrip("/") + "/"
    due = []
    for record in data.get("articles", {}).values():
        source = urljoin(base, record["url"])
        for target in record.get("webmention_targets", []):
            state = data["webmentions"].get(f"{source} {target}", {})
            status = state.get("status")
            if status in ("sent", "unsupported", "refused"):
                continue
            if status == "failed" and state.get("next_attempt", "") > now.isoformat():
                continue
            due.append((source, target))
    due.sort(key=lambda pair: (urlsplit(pair[1]).hostname or "", pair))
    if not args.send:
        for source, target in due:
            print(f"would notify {target} (from {source})", file=out)
        print(f"{len(due)} webmention(s) to send; run with --send to send them", file=out)
        return OK
    sender = Sender(
        timeout=config.timeout,
        deadline=config.fetch_deadline,
        interval=config.notify_interval,
        allow_private=config.allow_private_addresses,
        user_agent=config.user_agent,
    )
    failed = 0
    try:
        for source, target in due:
            key = f"{source} {target}"
            state = data["webmentions"].get(key, {})
            outcome = sender.send(source, target)
            attempts = int(state.get("attempts", 0)) + 1
            state = {
                "status": outcome.status,
                "detail": outcome.detail,
                "endpoint": outcome.endpoint,
                "attempts": attempts,
                "last_attempt": now.isoformat(),
            }
            if outcome.status == "failed":
                failed += 1
                backoff = timedelta(hours=min(2 ** (attempts - 1), 24 * 7))
                state["next_attempt"] = (now + backoff).isoformat()
            data["webmentions"][key] = state
            print(f"{outcome.status}: {target} ({outcome.detail})", file=out)
    finally:
        sender.close()
        ledger.save(config.ledger_file, data)
    return PROBLEMS if failed else OK


def _add_ledger_commands(commands: Any) -> None:
    report = commands.add_parser("report", help="whom you owe a response, from the ledger")
    report.add_argument("--since", help="only people who responded in this window (90d, 12w, 6m)")
    report.add_argument("--json", action="store_true")
    report.set_defaults(run=cmd_report)

    notify = commands.add_parser(
        "notify", help="send webmentions to the posts you highlighted (dry run by default)"
    )
    notify.add_argument("--send", action="store_true", help="really send them")
    notify.set_defaults(run=cmd_notify)
