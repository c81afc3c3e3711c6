"""Wallet: a double-entry ledger (ledger.py) and the flows over it — tips, top-ups, creator
subscriptions, cashouts — plus creator metrics. REST (api/routes/wallets.py, payments.py) and
GraphQL (api/graphql/resolvers/wallet.py) call these functions. docs/wallet.md."""
