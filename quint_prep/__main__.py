"""``python -m quint_prep`` runs the command line."""

from quint_prep.cli import main

main()
