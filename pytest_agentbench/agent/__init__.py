"""The agent loop: tools the model may call, parsing of its replies, and the turn loop."""
