"""One module per rule module (same name), each registering remedies with @remedy("FTxxx")."""
