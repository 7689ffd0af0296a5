"""The fault suite (issue 14): real topicflow services, real Kafka, injected faults.

``./scripts/faults [--short]`` (or ``python -m reliability``) starts Kafka clusters of
its own, runs each scenario's services as separate processes under ``topicflow
run``, kills, stops, floods and fails over under them, and prints a Markdown table
of what it measured against the targets. See docs/reliability.md.
"""
