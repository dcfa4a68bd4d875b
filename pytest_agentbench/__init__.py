"""pytest-agentbench: benchmark local LLMs inside a real coding-agent loop, as pytest tests."""

from __future__ import annotations

__version__ = "0.1.0"
