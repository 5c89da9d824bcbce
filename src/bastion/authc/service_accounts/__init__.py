"""Service accounts: built-in accounts, their tokens (index and file) and authentication."""
