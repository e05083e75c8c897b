"""`noizenet serve`: the composer page, its JSON API, and what guards them."""
