"""tally: count the words of a text and show the most frequent ones."""
