"""What the router needs to know about replays: the replay topic and its two headers.

An operator's replay puts the dead letter's original bytes, unchanged, on the replay topic
(``onedoor.kafka.plan.replay_topic``). Only the hub's own broker identity may write that topic
(agencies have no ACL on it), so its ``od_replay_sender`` header is trusted exactly as the
owner of an outbound topic is: it names the agency whose outbound topic the envelope first
came from. The router then decides it with the same ``decide`` as any envelope: the hub MAC
must still verify under that agency's registered key, and the message id goes through the
replay window (an id refused before was never admitted, so the first replay passes; a second
copy is refused ``envelope.replayed``). Kept free of database imports: the router imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from onedoor.kafka.plan import replay_topic
from onedoor.topics import TopicNames

REPLAY_SENDER: Final = "od_replay_sender"
"""The agency the replayed envelope came from (the owner of its original outbound topic)."""
REPLAY_OF: Final = "od_replay_of"
"""``<partition>:<offset>`` of the dead letter replayed (for tracing only)."""


def router_pattern(topics: TopicNames) -> str:
    """The router's subscription: every agency's outbound topic, and the replay topic."""
    prefix = re.escape(topics.prefix)
    return "^" + prefix + r"\.(?:out\.[a-z][a-z0-9-]+|replay)$"


def replayed_sender(topic: str, headers: Iterable[tuple[str, bytes]] | None, topics: TopicNames) -> str | None:
    """The sender of a record on the replay topic (from the hub's own header); ``None`` for any other topic."""
    if topic != replay_topic(topics):
        return None
    for name, value in headers or ():
        if name == REPLAY_SENDER:
            return value.decode("ascii", errors="replace")
    return None
