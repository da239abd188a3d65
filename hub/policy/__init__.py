"""Push invalidation: tell every router replica at once that agreements or consent changed."""
