"""The hub's web console at ``/console``: sign-in with hub JWTs, sessions, the layout and the ops dashboard.

``shell`` is what every console page builds on (see ``docs/console.md``); ``sessions`` keeps
signed-in browsers in ``console_session``; ``signin`` serves the sign-in and sign-out pages;
``dashboard`` the ops dashboard.
"""
