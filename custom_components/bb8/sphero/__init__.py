"""Sphero BB-8 protocol and BLE session, written as a stand-alone library.

Nothing here imports Home Assistant. Each module has one job: ``models`` (plain types and the
``ToyModel`` interface), ``protocol``, ``commands`` and ``decoders`` (the v1 codec),
``sphero_v1`` (BB-8's GATT layout and handshake: the v1 toy model; a v2 toy would be a
sibling), ``policy`` (when to reconnect), ``link`` (one BLE connection), ``pipeline`` (the
paced, matching command queue and its one writer task per link), ``toy_state``
(wishes and what the toy reported), ``motion`` (the sensor stream's layout, decoder and motion
tracker), ``motion_stream`` (streaming on demand), ``state_machine`` (the link's states and the
moves allowed between them), ``connection`` (the link's life: connect, teardown, idle timer),
``reconnect`` (the always-connected loop the policy paces) and ``session`` (the façade Home
Assistant calls), the way Home Assistant keeps device protocols in libraries such as led-ble.
"""
