"""The transfer engine (the FTS role): claim queued transfers, rank sources, choose a path, copy with narrow
tokens, verify checksums, and record the outcome (retries with backoff, multihop, stuck locks)."""
