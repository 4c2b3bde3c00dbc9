"""The estate view: many sites summarised from one central historian."""
