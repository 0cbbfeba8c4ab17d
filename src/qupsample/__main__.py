"""`python -m qupsample`."""

from qupsample.cli import main

main()
