"""Who acts and what they may do: actors and roles, permissions, accounts, identities from OpenID
providers, web sessions and API tokens.
"""
