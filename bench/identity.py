"""Identity matching quality and cost on synthetic pairs, with the status check's own code.

``measure()`` generates 6,000 labelled pairs (obviously fake people) with seed 2026 (the
matcher was tuned on seed 7), reports precision and recall at ``MATCH_THRESHOLD``, and times
``derive_tokens`` and ``match``. ``python -m bench.identity`` prints the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from connectors.identity import MATCH_THRESHOLD, MatchingKey, derive_tokens, match
from connectors.identity.evaluate import evaluate
from connectors.identity.identifiers import Identifiers
from connectors.identity.pairs import generate_pairs

SEED = 2026


def metric(value: float, unit: str, conditions: str) -> dict[str, Any]:
    """The same shape as ``bench.__main__.metric`` (not imported: that module starts Kafka tooling)."""
    return {"value": round(value, 4), "unit": unit, "conditions": conditions}


def measure(pairs: int = 6000, seed: int = SEED) -> dict[str, dict[str, Any]]:
    """Precision, recall, tokens derived per second and the cost of one ``match``."""
    key = MatchingKey.generate()
    labelled = generate_pairs(pairs, seed)
    scores = evaluate(labelled, key)
    cond = (
        f"{pairs} synthetic pairs (seed {seed}; tuned on seed 7), half matches with 1-3 kinds of noise, half hard "
        f"negatives (siblings, twins, namesakes 30% each, strangers 10%), threshold {MATCH_THRESHOLD}"
    )
    people = [
        Identifiers.parse(p.a.given_name, p.a.family_name, p.a.date_of_birth, p.a.postcode) for p in labelled[:2000]
    ]
    started = time.perf_counter()
    tokens = [derive_tokens(person, key) for person in people]
    derive_s = time.perf_counter() - started
    per_person = sum(len(t.all()) for t in tokens) / len(tokens)
    started = time.perf_counter()
    for query, record in zip(tokens, reversed(tokens), strict=True):
        match(query, record)
    match_us = (time.perf_counter() - started) / len(tokens) * 1e6
    return {
        "identity.precision": metric(scores.precision, "ratio", cond + f" (fp {scores.fp}, tp {scores.tp})"),
        "identity.recall": metric(scores.recall, "ratio", cond + f" (fn {scores.fn})"),
        "identity.tokens_per_s": metric(
            len(people) / derive_s, "people/s", f"derive_tokens, {per_person:.0f} tokens per person, one thread"
        ),
        "identity.match_us": metric(match_us, "us", "match() of two token sets, mean over 2,000 calls, one thread"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.identity")
    parser.add_argument("--pairs", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    print(json.dumps(measure(args.pairs, args.seed), indent=2))


if __name__ == "__main__":
    main()
