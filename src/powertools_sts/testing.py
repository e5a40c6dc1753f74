"""Test helpers for handlers decorated with ``sts`` (placeholder, being built).

Example
-------
>>> import powertools_sts.testing
"""
