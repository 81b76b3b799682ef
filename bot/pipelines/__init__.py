"""Deploying model versions: the deployer port and its Azure DevOps implementation."""
