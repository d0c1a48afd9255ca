"""Shared test infrastructure: running entry scripts (:mod:`helpers.run_entry`), skipping on missing
hardware or packages (:mod:`helpers.run_if`) and composing the entry configs (:mod:`helpers.configs`)."""
