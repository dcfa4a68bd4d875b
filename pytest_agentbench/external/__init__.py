"""External agents: any OpenAI-compatible agent, run in the attempt's sandbox behind a
recording proxy, so every metric of the built-in loop holds for it too."""
