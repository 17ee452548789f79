"""``python -m quint_prep`` runs the command line."""

from .cli import main

main()
