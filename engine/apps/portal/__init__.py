"""The learner portal (Phase 41): a FastAPI app over a `Learning` port (ports.py) with its own
security primitives: Argon2id passwords (passwords.py), itsdangerous tokens (tokens.py), CSRF and
cookie/body parsing (web.py), body caps and headers (guard.py), rate limits, the audit log's PII
rule, account tables with their own migrations (accounts.py), notes (markdown-it + nh3), SQLite
backups (backup.py) and uvicorn serving (server.py). The workbench supplies the Learning side."""
