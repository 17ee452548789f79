"""``sweep``: try several factors on a sample of the series, show the result and
recommend one factor."""
