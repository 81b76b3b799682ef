"""Action.Execute verbs: shared by the cards that show the buttons and the handlers behind them."""

CARD_ACTION = "adaptiveCard/action"
"""The name of the invoke Teams sends for an Action.Execute."""
APPROVE = "approve"
REJECT = "reject"
VIEW = "view"
"""Asks for the viewer's own view of an approval card (its refresh, and "Review and decide")."""

# The id of the reason field in the Reject form: Teams sends its value in the action's data.
REASON_INPUT = "reason"
