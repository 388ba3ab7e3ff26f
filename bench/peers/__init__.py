"""Surge side by side with real peers and ceilings, on the same machine and broker, in one run.

bench/bench_peers.py is the command; each module here is one comparison or one tool it needs.
"""
