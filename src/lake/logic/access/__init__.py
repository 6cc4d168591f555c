"""Use cases across domains, on top of the logic layers: uploads (catalog + rules' upload pins), downloads and
replica listings through a site's caches (catalog + cache), the Rucio session token (auth + catalog), and the
Rucio dialect's account views (catalog + quotas + rules)."""
