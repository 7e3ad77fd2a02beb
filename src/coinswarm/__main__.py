"""Allow `python -m coinswarm ...`."""

from coinswarm.cli import main

main()
