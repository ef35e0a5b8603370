"""Tables on the terminal and in pipes: rich tables on a TTY, plain untruncated rows otherwise."""

from __future__ import annotations

import sys


def print_tables(tables: list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]]) -> None:
    """Print ``(title, columns, rows)`` tables: rich tables on a terminal, plain aligned rows
    otherwise (never truncated or wrapped, one row per line, so ``| grep NAME`` finds a whole row)."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        console = Console()
        for title, columns, rows in tables:
            t = Table(title=title)
            for k, c in enumerate(columns):
                # the first column (a name to copy) is never truncated or wrapped, even when narrow
                first = max([len(c), *(len(str(r[0])) for r in rows)]) if k == 0 else None
                t.add_column(c, no_wrap=k == 0, min_width=first, overflow="fold")
            for row in rows:
                t.add_row(*row)
            console.print(t)
        return
    for k, (title, columns, rows) in enumerate(tables):
        if k:
            print()
        print(f"# {title}")
        print(plain_table(columns, rows))


def plain_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell, two spaces apart; cells on one line (newlines become spaces).

    >>> print(plain_table(("name", "tasks"), [("vgan_one_stream", "synthesis"), ("svg", "prediction")]))
    name             tasks
    vgan_one_stream  synthesis
    svg              prediction
    """
    cells = [[" ".join(str(c).split()) for c in columns]] + [[" ".join(str(c).split()) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)
