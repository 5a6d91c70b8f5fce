"""The learner portal (Phase 41) on the standard library only: settings, password hashing and signed
tokens, an SQLite store, Markdown notes with sanitising, SM-2 reviews, and transport-free routes."""
