"""pipeline: a small extract -> transform -> validate -> load job with scheduling and notifications."""
