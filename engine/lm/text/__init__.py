"""Text: the course corpus and tokenisation helpers."""
