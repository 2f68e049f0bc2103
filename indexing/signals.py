"""Signals other apps listen to: the indexing app does not know who caches what."""

from django.dispatch import Signal

# Sent after a transaction that changed what a search can see has committed:
# a new generation went live, or a repository was renamed or deleted.
index_changed = Signal()
