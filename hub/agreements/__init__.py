"""Information-sharing agreements as stored data: versions, approvals, lifecycle (issue 3, item 2)."""
