"""The pure model: events, the Session aggregate, values, merge rules and errors."""
