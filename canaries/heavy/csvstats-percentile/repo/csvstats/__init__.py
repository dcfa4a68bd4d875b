"""csvstats: summary statistics of one numeric column of a CSV file."""
