"""Assessment: graders per item kind, quiz attempts, SM-2 review cards.

Phase progress and the phase report live in workbench/progress/.

Pure pieces (`normalize`, `grading`, `sm2`, `scoring`) know nothing of SQLite or the terminal;
`attempts` and `cards` own their tables; `commands` is the CLI glue; `interactive` the prompts.
"""
