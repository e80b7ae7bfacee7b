"""Consumers of fold and eviction events (CSV files, the flow log, the summary); never called per packet."""
