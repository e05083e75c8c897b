"""`python -m noizenet` (also what `torchrun -m noizenet` starts)."""

from noizenet.cli import main

main()
