"""How the CSMS runs: settings, the ``csms`` command line, the embedded stack, manifests."""
