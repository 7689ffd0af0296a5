"""The six scenarios of the fault suite; each returns the rows of its figures."""
