"""Git trees: baselines, worktrees for attempts and checks, the diff of what an agent changed, safe file work."""
