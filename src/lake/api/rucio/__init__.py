"""Rucio's REST dialect over Lake's logic, so the unmodified `rucio` CLI and client work against Lake."""
