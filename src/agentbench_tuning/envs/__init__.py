"""Text environments sharing the contract in `envs.base`."""
