"""Alerts: notification channels (Apprise URLs, encrypted at rest) and sending to them. Rule
evaluation after each write and the durable outbox come next (README "Alerts")."""
