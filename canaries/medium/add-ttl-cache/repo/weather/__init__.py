"""Weather reports and alerts built on a slow upstream temperature service."""
