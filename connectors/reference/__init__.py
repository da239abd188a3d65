"""Reference agencies: a police records system and a council children's social care system, synthetic.

Each is a real database schema of its own (``police``, ``council``) filled by a deterministic
generator (``seed``; Faker ``en_GB``, seeded) and read and written by the SQL adapter through
the mappings in ``mappings/``. EVERY RECORD IS SYNTHETIC: family names are marked ``Fake-``,
postcodes are in the ``ZZ99`` pseudo-district, phones in the 01632 960xxx drama range.
"""
