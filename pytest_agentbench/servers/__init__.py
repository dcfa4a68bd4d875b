"""Model servers: the OpenAI-compatible client, preflight checks of the servers users run, the
ones the plugin starts itself (llama-server), endpoint pools and co-residence."""
