"""Sharing agreements and consent decisions.

Not built yet: the agreements issue adds the pure decision engine, agreements with their
lifecycle, consent records and enforcement at the connector, the hub and the recipient.
Until then the hub routes any registered contract between any registered active agencies.
"""
