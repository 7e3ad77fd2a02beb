"""Does the committee get better with the proven patterns? A nested walk-forward over the
pairs (`walk_forward`) and its report beside today's committee and buy-and-hold (`report`)."""
