"""Verbs that change containers, each a short composition of store → checkout → render →
deployment → service steps (DESIGN)."""
