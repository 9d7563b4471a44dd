"""Quality and pay: QA reviews of sampled cases, the incentive plan in force and its
editing, and agents' payout statements."""
