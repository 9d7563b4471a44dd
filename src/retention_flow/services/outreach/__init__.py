"""Reaching customers: daily outbound campaigns, the printable response forms on
retention letters, and the customer's self-service link and page."""
