"""Analyses several rules share (rules import them; nothing here imports from rules/).

- text.py: comment-blanked file text, the index of its calls, its #defines, block nesting;
- ppbranch.py: preprocessor branches a free-threaded build never compiles (gil_only);
- locks.py: what is a lock (lock calls, critical sections, the project's lock macros and helpers);
- guards.py: what a lock or a critical section guards in a function (regions, guard_at, held);
- callgraph.py: what runs only during module initialisation, and helpers called with a lock held;
- typeslots.py: which functions a type exposes to Python, through which slot;
- selfwrites.py, selfguard.py: writes to `self`'s fields, and what guards or replaces that state;
- borrowed.py, borrowed_project.py: the borrowed-reference facts of FT101-FT108, per file and across files.
"""
