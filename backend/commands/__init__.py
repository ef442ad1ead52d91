"""One module per ``shapeprog`` subcommand; each defines ``COMMAND`` (or ``COMMANDS``)."""
