"""Notifications: receivers, the routing tree and its groups, message bodies and the outbox.

Pure apart from ``receivers`` (HTTP and commands) and ``outbox.deliver`` (which calls them);
the state file that remembers what was sent lives in :mod:`mlmon.rules.state`.
"""
