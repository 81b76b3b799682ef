"""Action.Execute verbs: shared by the cards that show the buttons and the handlers behind them."""

APPROVE = "approve"
REJECT = "reject"
