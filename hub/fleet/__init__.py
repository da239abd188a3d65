"""The connector fleet as ops see it: each connector's health (heartbeats), time-to-triage, policy effect times."""
