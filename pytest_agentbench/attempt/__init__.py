"""One attempt, end to end: its tree's change, the driver that works on it, verification and the verdict."""
