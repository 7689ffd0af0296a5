"""The seven scenarios of the fault suite; each returns the rows of its figures."""
