"""Sphero BB-8 integration (placeholder until the HA layer lands)."""
