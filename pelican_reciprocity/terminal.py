"""Tables and summaries for the terminal (rich), kept apart from the commands."""

from __future__ import annotations

import argparse
from typing import Any

from .ledger import percentages


def print_table(rows: list[dict[str, Any]], title: str, out: Any) -> None:
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


def print_report(
    args: argparse.Namespace,
    owed: list[dict[str, Any]],
    suggestions: list[dict[str, Any]],
    given: int,
    total: int,
    out: Any,
) -> None:
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
    if any(row["owed"] for row in owed):
        console.print(table)
    else:
        console.print(
            "Nobody is owed a response" + (f" (last {args.since})" if args.since else "") + "."
        )
    for row in owed:
        if row["owed"]:
            times = "once" if row["owed"] == 1 else f"{row['owed']} times"
            when = (
                "since you last highlighted them"
                if row["last_given"]
                else "and you have not highlighted them yet"
            )
            console.print(f"{row['name']} responded {times} {when}")
            if row.get("latest_post"):
                post = row["latest_post"]
                console.print(
                    f"  their latest post: {post['title']} ({post['date'][:10]}) {post['url']}"
                )
    if suggestions:
        console.print("\nSuggestions: recent posts from people you owe")
        for item in suggestions:
            console.print(f"  {item['friend']}: {item['title']} <{item['url']}>")
    if total:
        shares = percentages(given, total)
        console.print(
            f"\n{given} of your {total} articles respond to someone (a highlight, or a link to "
            f"a friend or a responder) "
            f"({shares[0]} % responses, {shares[1]} % broadcasts)"
        )
