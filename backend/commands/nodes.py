"""``shapeprog nodes``: every node type the translator supports, with its modes, differentiability and parity test."""

from __future__ import annotations

from dataclasses import dataclass

from ..command import Command


@dataclass
class NodesConfig:
    markdown: bool = False
    """Print a Markdown table (the README's node table) instead of a terminal table."""
    write_readme: str | None = None
    """Also write the Markdown table into this README, between its nodes markers."""


def run(cfg: NodesConfig) -> int:
    from translator.catalog import catalog, markdown, summary

    rows = catalog()
    if cfg.write_readme:
        from pathlib import Path

        from translator.catalog import update_readme

        changed = update_readme(Path(cfg.write_readme), rows)
        print(f"{cfg.write_readme}: {'updated' if changed else 'up to date'}")
    if cfg.markdown:
        print(markdown(rows), end="")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="supported node types")
    cols = ["family", "node", "bl_idname", "modes", "notes", "grad", "parity test"]
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        d = r.as_dict()
        table.add_row(*(d[c] for c in cols))
    Console(width=200).print(table)
    print(summary(rows))
    return 0


COMMAND = Command(name="nodes", help="list the supported node types: modes, differentiability, parity test",
                  config=NodesConfig, run=run)
