"""Multi-step request flows (rate limits, domain calls, token pairs) that the REST routes and the
GraphQL resolvers both run. They may use api.auth, api.inputs and models, never a face."""
