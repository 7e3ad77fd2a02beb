"""Features a pattern's conditions may name, vectorised for research and streaming for trading."""
