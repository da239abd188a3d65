"""Errors of the embedded-broker runtime, with stable codes.

Codes: ``kafka.jars_unavailable`` (Maven could not provide the broker jars),
``kafka.java_missing``, ``kafka.start_failed`` (a node did not become ready; the message
carries each node's log tail), ``kafka.state_invalid`` (the recorded local cluster does not
match what was asked for), ``kafka.docker_failed``. Client-side failures live in
:mod:`onedoor.kafka.admin` as ``kafka.unreachable`` and friends.
"""

from __future__ import annotations

from onedoor.errors import Conflict, OneDoorError


class KafkaRuntimeError(OneDoorError):
    """The local broker could not be prepared, started or stopped."""


class KafkaJarsUnavailable(KafkaRuntimeError):
    """Maven (or the network behind it) could not provide the broker's jars."""

    def __init__(self, message: str) -> None:
        super().__init__("kafka.jars_unavailable", message)


class KafkaStartFailed(KafkaRuntimeError):
    """A broker node exited or did not become ready in time."""

    def __init__(self, message: str) -> None:
        super().__init__("kafka.start_failed", message)


class KafkaStateInvalid(Conflict):
    """What is recorded or on disk clashes with the cluster that was asked for."""

    def __init__(self, message: str) -> None:
        super().__init__("kafka.state_invalid", message)
