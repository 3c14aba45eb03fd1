"""``pelican-reciprocity``: curate the friends list and read the ledger.

This module parses arguments and prints; the work is done by the modules it
calls. Every command reads the site's settings (``-s``, default
``./pelicanconf.py``) so it uses the same friends file and cache as the
build. Errors are one line on stderr; exit codes: 0 ok, 1 problems found,
2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import friends_file, health, ledger, ledger_file, notify, terminal
from .cache import FeedCache
from .discovery import NoFeed, account_feed, discover
from .files import WriteError, write_atomic
from .friends import make_friend, read_opml, resolve_feed
from .i18n import Strings
from .identity import person_key
from .model import Friend
from .refresh import FetchSettings, log_failures, refresh
from .render import opml
from .settings import ConfigError
from .site_settings import Site, load_site
from .urls import normalise
from .webmention import Sender, is_local_site

OK, PROBLEMS, USAGE = 0, 1, 2


class Problem(Exception):
    """Something outside the user's control went wrong (network, a bad feed); exit 1."""


def _dump(data: Any, out: Any) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False, sort_keys=True)
    out.write("\n")


# -- the friends list ----------------------------------------------------------------------


def cmd_add(site: Site, args: argparse.Namespace, out: Any) -> int:
    path, aliases = site.friends_file, []
    if args.from_responder:  # promote someone who responded: their feed, name and site
        person = ledger.find_person(_load_ledger(site), args.from_responder)
        args.url, args.name = person.get("feed") or person["url"], args.name or person["name"]
        aliases = [person["url"]] if person["url"] else []
    doc = friends_file.read_document(path)
    given = (args.url or "").strip()
    settings = FetchSettings.from_config(site.config)
    url, problem = resolve_feed(account_feed(given, settings.limits()) or given, Path.cwd())
    if problem:
        raise ConfigError(problem)
    try:
        found = discover(url, settings.limits(), settings.fetch_deadline)
    except NoFeed as exc:
        raise Problem(str(exc)) from None
    site_url = found.link if found.link and found.link.startswith("http") else ""
    listed = friends_file.Listed((f, known) for f, known, _ in site.sites(site.friends()))
    duplicate = listed.duplicate_of(found.feed, site_url)
    if duplicate and not args.force:
        raise ConfigError(f"not added: {duplicate} (--force adds it anyway)")
    name = args.name or found.name or urlsplit(found.feed).hostname or found.feed
    aliases = [a for a in aliases if normalise(a) != normalise(site_url)]
    friends_file.append(doc, name, found.feed, site_url, args.tag, aliases)
    friends_file.write_document(path, doc)
    print(f"added {name} ({found.feed}) to {path}", file=out)
    return OK


def cmd_remove(site: Site, args: argparse.Namespace, out: Any) -> int:
    path = site.friends_file
    doc = friends_file.read_document(path)
    name = friends_file.remove(doc, args.friend.strip())
    if name is None:
        raise ConfigError(f"no friend named or with the address {args.friend.strip()!r} in {path}")
    friends_file.write_document(path, doc)
    print(f"removed {name} from {path}", file=out)
    return OK


def _rows(site: Site, friends: list[Friend]) -> list[dict[str, Any]]:
    cache = FeedCache(site.config.cache_path)
    now = time.time()
    ttl, age = site.config.cache_ttl, site.config.auto_max_age_days
    return [health.row(f, cache.load(f.feed), ttl=ttl, now=now, max_age_days=age) for f in friends]


def cmd_list(site: Site, args: argparse.Namespace, out: Any) -> int:
    rows = _rows(site, site.friends())
    if args.json:
        _dump(rows, out)
    else:
        terminal.print_table(rows, f"{len(rows)} friends", out)
    return OK


def _refresh(site: Site, friends: list[Friend], *, force: bool, quiet: bool) -> Any:
    if quiet or not friends:
        return refresh(friends, site.config, force=force)
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(file=sys.stderr)) as progress:
        task = progress.add_task("fetching feeds", total=len(friends))
        return refresh(
            friends, site.config, force=force, progress=lambda _f: progress.advance(task)
        )


def cmd_check(site: Site, args: argparse.Namespace, out: Any) -> int:
    friends = site.friends()
    gathered = _refresh(site, friends, force=args.refresh, quiet=args.json)
    rows = _rows(site, friends)
    if args.fix_redirects:
        moved = {r["feed"]: r["detail"] for r in rows if r["status"] == "moved permanently"}
        if moved:
            path = site.friends_file
            doc = friends_file.read_document(path)
            fixed = friends_file.move_feeds(doc, moved, path.parent)
            if fixed:
                friends_file.write_document(path, doc)
            for old, new in fixed:
                print(f"moved {old} -> {new}", file=sys.stderr)
    if args.json:
        _dump(rows, out)
    else:
        terminal.print_table(rows, gathered.summary().removeprefix("reciprocity: "), out)
    bad = [r for r in rows if r["status"] in ("failed", "not a feed", "not fetched")]
    if args.strict:
        bad += [r for r in rows if r["status"] in ("moved permanently", "no posts for 6 months")]
        if args.fix_redirects:
            bad = [r for r in bad if r["status"] != "moved permanently"]
    for row in bad:
        print(f"{row['name']}: {row['status']}: {row['detail']}", file=sys.stderr)
    return PROBLEMS if (bad and args.strict) else OK


def cmd_fetch(site: Site, args: argparse.Namespace, out: Any) -> int:
    gathered = _refresh(site, site.friends(), force=args.refresh, quiet=False)
    logging.basicConfig(format="%(levelname)s %(message)s", stream=sys.stderr)
    log_failures(gathered)
    print(gathered.summary(), file=out)
    return PROBLEMS if gathered.failed else OK


def cmd_import_opml(site: Site, args: argparse.Namespace, out: Any) -> int:
    source = Path(args.file)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror or exc}") from None
    entries, skipped = read_opml(data)
    path = site.friends_file
    listed = friends_file.Listed((f, f.url) for f in site.friends())
    added = []
    for entry in entries:
        label = entry.get("name") or entry.get("feed")
        scheme = urlsplit(entry["feed"]).scheme.lower()
        if scheme not in ("http", "https") and not args.allow_local:
            # Someone else's file must not make the build read this machine's files.
            skipped.append(f"{label}: {entry['feed']!r} is not a web address (--allow-local)")
            continue
        friend, problem = make_friend(entry, path.parent)
        if problem or friend is None:
            skipped.append(f"{label}: {problem}")
            continue
        duplicate = listed.duplicate_of(friend.feed, friend.url)
        if duplicate:
            skipped.append(f"{label}: duplicate ({duplicate})")
            continue
        added.append(friends_file.entry(friend.name, friend.feed, friend.url))
        listed.add(friend, friend.url)
    if added:
        friends_file.append_many(path, added)
    print(f"imported {len(added)} friend(s) from {source} into {path}", file=out)
    for reason in skipped:
        print(f"skipped {reason}", file=out)
    return OK


def cmd_export_opml(site: Site, args: argparse.Namespace, out: Any) -> int:
    friends = site.friends()
    lang = site.config.default_lang
    heading = site.config.friends_heading or Strings(lang, site.config.strings)("Friends")
    title = f"{site.settings.get('SITENAME') or 'My site'}: {heading}"
    body = opml(((f, url) for f, url, _ in site.sites(friends)), title=title)
    if args.file:
        write_atomic(Path(args.file), body.encode("utf-8"))
        print(f"wrote {len(friends)} friend(s) to {args.file}", file=out)
    else:
        out.write(body)
    return OK


# -- the ledger: report and notify ---------------------------------------------------------


def _load_ledger(site: Site) -> dict[str, Any]:
    path = site.config.ledger_file
    if not path.exists():
        raise ConfigError(f"no ledger at {path} yet: build the site first (pelican content)")
    return ledger_file.load(path)


def cmd_report(site: Site, args: argparse.Namespace, out: Any) -> int:
    data = _load_ledger(site)
    try:
        since = datetime.now(UTC) - ledger.parse_since(args.since) if args.since else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    rows = ledger.owed_rows(data, since)
    highlighted = {
        normalise(url) for record in data.get("articles", {}).values() for url in record["curated"]
    }
    posts = {
        person_key(url, f.name): (f.name, entry.posts if entry else [])
        for f, url, entry in site.sites(site.friends())
    }
    suggestions = ledger.suggestions(rows, posts, highlighted)
    cache = FeedCache(site.config.cache_path)
    for row in rows:  # a responder's own feed, found for the return visit
        if row["key"] not in posts and row.get("feed"):
            entry = cache.load(row["feed"])
            posts[row["key"]] = (row["name"], entry.posts if entry else [])
    given, total = ledger.share_of_responses(data, since)
    owed = ledger.owed_view(rows, posts)
    if args.json:
        _dump(
            {
                "since": args.since,
                "owed": owed,
                "suggestions": suggestions,
                "share": {"responding": given, "articles": total},
            },
            out,
        )
        return OK
    terminal.print_report(args, owed, suggestions, given, total, out)
    return OK


def cmd_notify(site: Site, args: argparse.Namespace, out: Any) -> int:
    config = site.config
    if is_local_site(config.siteurl):
        raise ConfigError(
            f"SITEURL is {config.siteurl!r}: notify needs the published site's address "
            "(try -s publishconf.py)"
        )
    data = _load_ledger(site)
    now = datetime.now(UTC)
    due = notify.due(data, config.siteurl, now)
    for line in notify.interrupted(data, str(config.ledger_file)):
        print(line, file=out)
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
    states = data.setdefault("webmentions", {})
    try:
        for source, target in due:
            key = notify.key(source, target)
            previous = states.get(key, {})
            states[key] = notify.intent(previous, now)
            ledger_file.save(config.ledger_file, data)  # before the send: at most once
            outcome = sender.send(source, target)
            states[key] = notify.recorded(
                previous, outcome.status, outcome.detail, outcome.endpoint, now
            )
            ledger_file.save(config.ledger_file, data)
            failed += outcome.status == "failed"
            print(f"{outcome.status}: {target} ({outcome.detail})", file=out)
    finally:
        sender.close()
    return PROBLEMS if failed else OK


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

    def command(name: str, run: Any, help: str, *flags: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        for flag in flags:
            sub.add_argument(flag, action="store_true", help=FLAG_HELP.get(flag))
        sub.set_defaults(run=run)
        return sub

    add = command("add", cmd_add, "add a friend by feed or home-page URL")
    add.add_argument("url", nargs="?", default="")
    add.add_argument("--from-responder", metavar="NAME|URL", help="someone in the ledger")
    add.add_argument(
        "--name", help="their name (default: the feed's author, else the site's name or title)"
    )
    add.add_argument("--force", action="store_true", help="add a second feed for a listed site")
    add.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    command("remove", cmd_remove, "remove a friend by name or URL").add_argument(
        "friend", metavar="NAME|URL"
    )
    command("list", cmd_list, "list friends with their latest post and status", "--json")
    command(
        "check",
        cmd_check,
        "fetch every feed and report on each friend",
        "--refresh",
        "--strict",
        "--fix-redirects",
        "--json",
    )
    command(
        "fetch", cmd_fetch, "refresh the feed cache (e.g. before an offline build)", "--refresh"
    )
    importer = command("import-opml", cmd_import_opml, "add the subscriptions in an OPML file")
    importer.add_argument("file")
    importer.add_argument(
        "--allow-local",
        action="store_true",
        help="also import file: and relative feed paths (only for a file you wrote)",
    )
    command("export-opml", cmd_export_opml, "write the friends list as OPML 2.0").add_argument(
        "file", nargs="?", help="output file (default: standard output)"
    )
    report = command("report", cmd_report, "whom you owe a response, from the ledger", "--json")
    report.add_argument("--since", help="only people who responded in this window (90d, 12w, 6m)")
    command(
        "notify",
        cmd_notify,
        "send webmentions to the posts you highlighted (dry run by default)",
        "--send",
    )
    return parser


FLAG_HELP = {
    "--refresh": "ignore the cache TTL",
    "--strict": "exit 1 on any problem",
    "--fix-redirects": "rewrite moved feed URLs",
    "--send": "really send them",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        site = load_site(args.settings)
        return args.run(site, args, sys.stdout)
    except ConfigError as exc:
        print(f"pelican-reciprocity: {exc}", file=sys.stderr)
        return USAGE
    except Problem as exc:
        print(f"pelican-reciprocity: {exc}", file=sys.stderr)
        return PROBLEMS
    except WriteError as exc:
        print(f"pelican-reciprocity: {exc}", file=sys.stderr)
        return PROBLEMS
    except KeyboardInterrupt:
        return PROBLEMS
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        print(f"pelican-reciprocity: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return PROBLEMS
    except BrokenPipeError:  # `pelican-reciprocity list --json | head`
        sys.stderr.close()
        return OK


if __name__ == "__main__":
    sys.exit(main())
