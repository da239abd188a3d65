"""Dead letters: a metadata index of the dead-letter topic, and replay once the cause is fixed.

``models`` is the table, ``ingest`` fills it from the dead-letter topic (a consumer in the API
process), ``replay`` judges a replay with the router's own ``decide``, ``broker`` reads a dead
letter back and puts it on the replay topic, ``wire`` is what the router knows of that topic,
``service`` lists, summarises and replays, ``api`` and ``pages`` are the HTTP routes.
See docs/dead-letters.md.
"""
