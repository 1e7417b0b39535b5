"""The scenarios behind RELIABILITY.md: bad input, faults and load through the real bot, and the report."""
