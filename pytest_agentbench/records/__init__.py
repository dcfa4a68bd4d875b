"""What a run leaves: the results database, the ledger, statistics and comparisons between runs."""
