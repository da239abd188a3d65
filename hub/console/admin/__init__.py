"""The console's admin pages: agencies, agreements and contracts (``/console/{agencies,agreements,contracts}``)."""
