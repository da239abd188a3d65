"""A child's professional network at the hub: subject token -> member agencies, nothing else."""
