"""Caching: caches are volatile RSEs of a site; clients at that site read through them; cached copies never count."""
