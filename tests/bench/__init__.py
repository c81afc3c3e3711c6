"""`make bench` (`python -m tests.bench.run`): throughput and latency figures from the real stack.

Not collected by pytest (no test_*.py files): it reports figures, it asserts no speed targets.
"""
