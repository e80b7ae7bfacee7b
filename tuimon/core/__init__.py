"""The pure counting core: ingest, fold, expiry, snapshot, rates, names. No processes, pipes, subprocesses, files or clocks of its own."""
