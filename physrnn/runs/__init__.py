"""The application tier: jobs, records and summaries, sweeps, collect, preemption, figures.

Library code (every other subpackage) never imports from here; the CLI does.
"""
