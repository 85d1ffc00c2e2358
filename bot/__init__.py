"""guildbot: a multi-guild Discord bot whose every row is scoped to its guild."""

__version__ = "1.0.0"
