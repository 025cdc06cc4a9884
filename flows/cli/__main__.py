"""``python -m flows.cli``: the `sentiment` command."""

from flows.cli.main import main

main()
