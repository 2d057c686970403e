"""Every side effect the workflows need: persistence, billing, and the activities themselves."""
