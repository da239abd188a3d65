"""The hub's contract registry: every version of every contract, with its compatibility mode.

``service`` holds the logic (no HTTP), ``api`` the thin router, ``models`` the tables and
``schemas`` the API's in/out models.
"""
