"""Sphero toys' protocols (v1: BB-8; v2: BB-9E, R2-D2, R2-Q5, Mini, BOLT) and BLE session, as a library.

Home Assistant keeps device protocols in libraries such as led-ble; this package is written as
one. ``session.BB8Session`` is the one object its caller needs. The module map below is held
against the actual imports by tests/test_module_map.py: a module may import only the modules of
this package that its entry names (``-``: none), and nothing of Home Assistant.

const: the protocol's numbers and GATT UUIDs; may import: -
catalog: the Sphero family: each model's name prefix, name, protocol, parts and ToyModel; may import:
    models, sphero_v1, sphero_v2
policy: when to try the next connect: backoff with jitter; may import: -
motion: the sensor stream's layout, frames and motion tracker; may import: -
decoders: typed values from the toy's answers and reports; may import: -
droid_names: the droids' animation (per model) and sound numbers by name (spherov2's); may import: -
protocol: v1 framing and the resynchronising reader; may import: -
protocol_v2: v2 framing, escaping and its resynchronising reader; may import: protocol
commands: typed, validated v1 command builders; may import: const
commands_v2: typed, validated v2 command builders; may import: commands, protocol_v2
errors: the typed errors a caller catches; may import: policy, protocol
models: plain shared types and the ToyModel seam; may import: commands, motion_stream, protocol,
    toy_state
sphero_v1: how the v1 toys (BB-8, SPRK+, Ollie) are spoken to: the v1 ToyModel; may import: commands,
    const, errors, motion_stream, protocol, toy_state
sphero_v2: how each v2 toy is spoken to: its ToyModel and targets; may import:
    commands, commands_v2, errors, motion_v2, protocol_v2, toy_state
background: a session's tasks and timers, all ended by close; may import: models
reconnect: the always-connected loop; may import: errors, models, policy
link: one BLE connection and its bytes; may import: errors, models, policy, protocol
pipeline: the paced, latest-wins command queue and its one writer task; may import:
    commands, errors, models, protocol
motion_stream: streaming on demand and its packets, the v1 stream's codec; may import: commands, const,
    errors, models, motion, protocol
motion_v2: the v2 sensor stream's codec: its masks, commands and packets; may import: commands,
    commands_v2, motion, motion_stream, protocol_v2
toy_state: what is known of the toy and asked of it; may import:
    commands, const, decoders, models, motion_stream, protocol, protocol_v2
drive: the latest motion and a timed roll's stop; may import: background
connection: the link's life and state machine: connect, idle, reconnect, close; may import:
    background, errors, link, models, pipeline, policy, protocol, reconnect, toy_state
session: the façade the Home Assistant layer calls; may import:
    commands, connection, const, decoders, drive, errors, link, models, policy, protocol, sphero_v1,
    toy_state
"""
