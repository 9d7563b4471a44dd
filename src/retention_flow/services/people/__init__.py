"""Users and signing in: accounts and roles, access tokens, login throttling."""
