"""Test suite of the BB-8 integration."""
