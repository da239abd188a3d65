"""A real Apache Kafka broker on any machine.

Order of preference (see :func:`onedoor.kafka.cluster.ensure_running`): an existing cluster
named by ``KAFKA_BOOTSTRAP_SERVERS``; else a Docker engine (testcontainers); else local
KRaft JVMs from Maven Central jars. :mod:`onedoor.kafka.admin` is the one module that wraps
aiokafka's admin client. Nothing is imported here so the CLI and the reaper stay light.
"""
