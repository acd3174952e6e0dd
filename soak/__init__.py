"""The reliability soak's driver: fault injection, a mix of user commands, invariants, leak checks.

``chaos`` breaks one link at a time; ``week`` runs toys through simulated days of sleep, proxy
reboots and restarts; ``world`` makes Home Assistant's Bluetooth and time tracking follow the
simulated clock. It drives the integration through Home Assistant and the simulator (:mod:`bb8sim`), so it lives
beside the soak (``tests/test_soak.py``, ``scripts/soak``) rather than inside the simulator, which
holds only the simulated toy and proxy. The integration never imports it.
"""
