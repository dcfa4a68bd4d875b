"""Reports built on the controller from the attempts' results: terminal summary and JSON."""
