"""Routing: roles with an incumbent and challengers (roles.py), the
review checks' pain (review.py), metrics per model x role (metrics.py), the mechanical promotion
policy (policy.py), and its reports and registry update (report.py, registry_edit.py)."""
