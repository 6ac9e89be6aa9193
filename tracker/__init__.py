"""tracker: a recommendation compliance tracker.

The library does the work: ``tracker.store.database`` opens databases and runs migrations,
``tracker.services`` records, ``tracker.queries`` and ``tracker.reports`` read,
``tracker.audit.verify`` keeps and checks the audit chain.
"""

__version__ = "0.1.0"
