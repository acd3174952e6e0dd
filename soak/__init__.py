"""The reliability soak's driver: fault injection, a mix of user commands, invariants, leak checks.

It drives the integration through Home Assistant and the simulator (:mod:`bb8sim`), so it lives
beside the soak (``tests/test_soak.py``, ``scripts/soak``) rather than inside the simulator, which
holds only the simulated toy and proxy. The integration never imports it.
"""
