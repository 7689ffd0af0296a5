"""The examples import FastStream (or, in their copies, topicflow): never collect them here.

They are run by ``tests/compat/test_porting.py``, each side in its own venv.
"""

collect_ignore = ["examples"]
