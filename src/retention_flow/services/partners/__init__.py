"""External sales partners: organisations and their rules, lead allocation and its
runs, and monthly settlement with its checks and export."""
