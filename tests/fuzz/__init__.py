"""A seeded frame mutator and a harness that feeds mutated venue frames to every parser.

``python -m tests.fuzz`` (``make fuzz``, part of ``make soak``) runs 1,000,000 frames per venue;
``tests/core/exchanges/test_fuzz.py`` runs a small seeded share of the same harness in every test run.
"""
