"""Action.Execute verbs: shared by the cards that show the buttons and the handlers behind them."""

APPROVE = "approve"
REJECT = "reject"

# The id of the reason field in the Reject form: Teams sends its value in the action's data.
REASON_INPUT = "reason"
