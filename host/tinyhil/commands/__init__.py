"""One module per CLI subcommand, each exposing `command`."""
