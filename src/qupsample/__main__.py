"""`python -m qupsample`."""

from qupsample.entry import main

main()
