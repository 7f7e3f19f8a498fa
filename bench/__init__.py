"""The benchmark harness (``make bench``; not part of the test suite).

Each benchmark runs a *ceiling* (what this machine does with nothing of Linli in the way: a bare
Litestar app, raw sqlite3, raw asyncpg) and the *product* side by side in one run, alternating,
for several rounds, and reports medians and the ratio product / ceiling. Ratios are what the
targets in docs/performance.md are stated in: they survive a different or a busy machine far
better than absolute figures do. The machine's load average is printed next to every result.

Modules: :mod:`bench.options` (what to run), :mod:`bench.dataset` (the seeded data set),
:mod:`bench.servers` (service processes), :mod:`bench.wrk` (the load generator),
:mod:`bench.http` / :mod:`bench.library` / :mod:`bench.matching` (the benchmarks),
:mod:`bench.report` (the table and docs/performance.md).
"""
