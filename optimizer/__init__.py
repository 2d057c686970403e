"""Pure math for smart charging (PuLP linear programs): dataclasses in, schedules out.

The site load scheduler and the fleet off-peak planner land here with the
smart-charging work; nothing in this package performs I/O.
"""
