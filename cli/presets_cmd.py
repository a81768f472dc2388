"""`vprop presets`: every paper's propagation preset and per-task protocol, from one table."""

from __future__ import annotations

import json

import click


@click.command(name="presets")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def command(names: tuple[str, ...], as_json: bool) -> None:
    """Show the presets (all, or NAMES): engine parameters, each task's protocol, sources.

    Every value printed is what `vprop eval --preset NAME` uses and writes to results.json.
    """
    from vprop.benchmarks.papers import describe_papers, get_preset

    for name in names:
        get_preset(name)  # unknown name: one error line
    table = {name: entry for name, entry in describe_papers().items()
             if not names or name in names}
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    from vprop.benchmarks.tables import protocol_text

    for name, entry in table.items():
        click.secho(name, bold=True)
        click.echo(f"  engine    {protocol_text(entry['preset'])}")
        for task, task_protocol in entry["tasks"].items():
            extra = [f"{key} {value}" for key, value in task_protocol.items()
                     if key not in ("input_size", "source") and value not in (None, {})]
            click.echo(f"  {task:<9} input {task_protocol['input_size']}"
                       + "".join(f"; {item}" for item in extra))
        click.echo(f"  source    {entry['source']}")
        if entry["notes"]:
            click.echo(f"  notes     {entry['notes']}")
