"""torch / sentence-transformers code. No Django imports here."""
