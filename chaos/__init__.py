"""Surge's fault-injection suite: each scenario runs the collector and the lander as real
processes on the real local stack, under steady load from ``loadgen``, injects one kind of
fault, and ends with a reconciliation of what got a 2xx against what landed on HDFS
(``infra/reconcile.py``).

    python -m chaos                 # every scenario (``make chaos``)
    python -m chaos --short broker_kill lander_kills hostile_input

Each scenario has its own topic, lander root and consumer group, so scenarios never see each
other's data. Results: one row per scenario, printed as a table and written as JSON
(``chaos/results/``). See RELIABILITY.md for what each scenario proves.
"""
