"""`make bench`: router throughput and latency against a real broker, envelope costs.

Figures are written to bench/results/latest.json (metric -> value, unit, conditions).
The machine is shared and noisy: compare ratios taken in one run, not absolute numbers
across runs.
"""
