"""The public referral form: a stable link with no login, sealed in the browser to the triage desk."""
