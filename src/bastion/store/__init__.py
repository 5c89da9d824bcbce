"""The security store: Bastion's hidden system indices in the engine."""
