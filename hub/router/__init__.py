"""The hub router: reads every agency's outbound topic, checks each envelope, routes it.

``decide`` is the pure core (one envelope in, one decision out); ``tables`` is the snapshot
of who and what is registered; ``service`` is the thin async shell around aiokafka, with
``publisher`` batching what it produces; ``runtime`` wires it to the hub's database. The
replay window is ``onedoor.envelope.window``; ``status`` is the book of outstanding status
checks, per-requester rate limits and enumeration alerts that ``decide`` consults for the two
status contracts.
"""
