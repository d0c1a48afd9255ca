"""The tests' one helpers home: running commands (:mod:`.run_entry`), skipping on missing hardware or packages
(:mod:`.run_if`), composing the entry configs (:mod:`.configs`), trace-file fixtures (:mod:`.traces`), training
fixtures and the tiny judge backbone (:mod:`.training`), and reading printed tables (:mod:`.tables`)."""
