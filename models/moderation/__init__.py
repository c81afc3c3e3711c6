"""Trust and safety: NSFW moderation cases, reports, trust scores."""
