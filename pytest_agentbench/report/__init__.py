"""Reports built on the controller from the attempts' results: the terminal summary, the JSON and
the HTML report."""
