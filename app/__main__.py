"""`python -m app` is `hpsup`."""

from app.cli import main

main()
