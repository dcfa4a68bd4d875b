"""Running model-written commands and checks: bubblewrap jails, resource limits, secrets kept out of them."""
