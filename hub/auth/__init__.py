"""Who may call the hub API: bearer JWTs, roles, and the audited authorization check."""
