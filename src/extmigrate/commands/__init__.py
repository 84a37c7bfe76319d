"""Subcommands of the `extmigrate` CLI."""
