"""The ASGI side of an app: HTTP handlers, ready-made routes, serving with uvicorn
(the public names are in :mod:`topicflow.asgi`)."""
