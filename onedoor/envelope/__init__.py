"""The envelope: a clear routing header, an encrypted body, a signature and a hub MAC.

``wire`` lays the bytes out, ``keys`` holds key material, ``seal`` and ``opening`` are the
two ends (connectors), ``hubmac`` is what the hub checks.
"""
