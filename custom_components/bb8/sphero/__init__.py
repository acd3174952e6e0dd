"""Sphero BB-8 protocol and BLE session, written as a stand-alone library.

Nothing here imports Home Assistant: the codec (``protocol``, ``commands``), the reconnect
policy (``policy``) and the session that owns one toy's link (``session``) can be tested and
reused alone, the way Home Assistant keeps device protocols in libraries such as led-ble.
"""
