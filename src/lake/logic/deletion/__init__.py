"""Deletion: expiry of rules (rule cleaner) and DIDs (undertaker), and the reaper that frees storage."""
