"""The hub router: reads every agency's outbound topic, checks each envelope, routes it.

``decide`` is the pure core (one envelope in, one decision out); ``replay`` is the
message-id window; ``tables`` is the snapshot of who and what is registered;
``service`` is the thin async shell around aiokafka.
"""
