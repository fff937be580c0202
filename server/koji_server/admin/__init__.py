"""The operator CLI, `koji-admin`."""
