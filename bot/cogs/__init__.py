"""Slash commands, one module per feature area. Cogs call repositories, never SQL."""
