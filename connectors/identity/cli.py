"""``onedoor identity`` commands: generate synthetic labelled pairs and measure matching quality on a pairs file.

Both run locally; nothing is sent anywhere. ``eval`` uses a fresh random matching key: which
tokens agree does not depend on the key, only on the identifiers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from connectors.identity.evaluate import evaluate
from connectors.identity.keys import MatchingKey
from connectors.identity.pairs import generate_pairs, read_csv, write_csv
from onedoor.errors import ValidationFailed

app = typer.Typer(
    name="identity",
    help="Privacy-preserving identity tokens: synthetic pairs and matching quality (precision, recall).",
    no_args_is_help=True,
)

USAGE_ERROR = 2


@app.command(name="eval")
def eval_(
    pairs_file: Annotated[
        Path, typer.Argument(metavar="PAIRS.csv", help="Labelled pairs (header as `onedoor identity pairs` writes).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as one JSON object.")] = False,
) -> None:
    """Measure precision and recall of the status check's matching on labelled pairs."""
    try:
        pairs = read_csv(pairs_file)
    except OSError as error:
        typer.echo(f"error: cannot read {pairs_file}: {error.strerror}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    except (ValidationFailed, UnicodeDecodeError) as error:
        message = str(error) if isinstance(error, ValidationFailed) else "the file is not UTF-8 text"
        typer.echo(f"error: {pairs_file}: {message}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    scores = evaluate(pairs, MatchingKey.generate())
    if as_json:
        typer.echo(json.dumps({"pairs": len(pairs), **scores.as_dict()}))
        return
    typer.echo(f"pairs: {len(pairs)} (threshold {scores.threshold})")
    typer.echo(f"precision: {scores.precision:.4f}  recall: {scores.recall:.4f}")
    typer.echo(f"true matches {scores.tp}, false matches {scores.fp}, missed {scores.fn}, true non-matches {scores.tn}")


@app.command()
def pairs(
    out: Annotated[Path, typer.Argument(metavar="OUT.csv", help="Where to write the pairs (overwritten).")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many pairs (half matches, half hard negatives).")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same file.")] = 7,
) -> None:
    """Write synthetic labelled pairs of obviously fake people."""
    with out.open("w", newline="", encoding="utf-8") as handle:
        write_csv(generate_pairs(n, seed), handle)
    typer.echo(f"wrote {n} pairs to {out}")
