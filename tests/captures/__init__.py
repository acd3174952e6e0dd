"""Bytes and tables seen on real toys, each with where it was published and what it is.

Nothing here is made up: a module holds only what its source shows, transcribed, and says what
it does not show. Where the Sphero API spec and a capture disagree, the capture wins.
"""
