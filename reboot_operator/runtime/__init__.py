"""What every layer above ``core`` runs on: settings (flags and environment), the error tree, backoff, the clock."""
